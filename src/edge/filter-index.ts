/**
 * Maps connections' filter sets to uWS topics so that a notification is published to few topics,
 * and every matching connection gets exactly one copy even when several of its filters match.
 *
 * A connection with filters f1 < f2 < … < fn (in the canonical order below) subscribes to one
 * topic per filter: topic i means "fi matches and none of f1…f(i-1) does". For a notification,
 * exactly the first of its matching filters delivers, so it gets one copy. The topic of fi is
 * shared by every connection with the same fi and the same filters before it, so broad filters,
 * which sort first, are shared: N clients with `user:<i>` + `entity_type:T` all sit on the one
 * topic `entity_type:T`, and a notification of type T is one native publish to N sockets, not N
 * publishes. (Interning whole sets as topics would make it N topics of one subscriber each.)
 *
 * Publishing a notification: for each of its routing keys, the topics delivering through that key
 * whose exclusions (the filters before it) all miss. A topic without exclusions is the bare
 * filter string, so single-filter connections cost one subscription to a shared topic.
 *
 * Memory matters (one entry per distinct topic, often one per connection, e.g. `user:<id>`): a
 * key used by a single topic maps to that topic string directly rather than to a one-element Set;
 * a topic's exclusions are read from the topic string itself rather than kept in a map (that map
 * and its arrays cost a connection with three filters ~140 B); and broad filters, which many
 * connections share, are interned (`intern`).
 */
import { ALL, filterKind, type FilterKind } from '../protocol/filters.js';

const SEPARATOR = '\n'; // filters never contain control characters (protocol/filters.parseFilter)
/** Distinct broad filters interned at most (see FilterIndex.intern). */
const MAX_INTERNED = 10_000;

/** Broad kinds first: they are the ones many connections share. */
const RANK: Record<FilterKind, number> = { all: 0, entity_type: 1, notification_type: 2, user: 3, entity: 4 };

export class FilterIndex {
  /**
   * topic → number of connections on it, for topics two or more share. A topic in byKey and not
   * here has one: most per-user topics need no entry of their own.
   */
  private readonly shared = new Map<string, number>();
  private topicCount = 0;
  /** filter → the topic, or the topics, delivering through it */
  private readonly byKey = new Map<string, string | Set<string>>();
  /** One instance of each broad filter in use (see intern). */
  private readonly interned = new Map<string, string>();
  private readonly matched = new Set<string>();
  private readonly out: string[] = [];

  /**
   * The topics of a filter set (filters in any order; duplicates ignored), in canonical order.
   * `all` matches everything, so a set containing it is just `all`.
   */
  static topicsOf(filters: Iterable<string>): string[] {
    return topicsOfOrdered(ordered(filters));
  }

  /** Registers one more connection with this filter set; returns the topics it must subscribe to. */
  acquire(filters: Iterable<string>): string[] {
    const sorted = ordered(filters);
    const topics = topicsOfOrdered(sorted);
    topics.forEach((topic, i) => {
      const filter = sorted[i] as string;
      if (this.has(topic, filter)) {
        this.shared.set(topic, (this.shared.get(topic) ?? 1) + 1);
      } else {
        // The connection's own filter strings serve as keys: no copies per topic.
        this.add(topic, filter);
        this.topicCount += 1;
      }
    });
    return topics;
  }

  /** Unregisters one connection from these topics (as `acquire` returned them). */
  release(topics: readonly string[]): void {
    for (const topic of topics) {
      const refs = this.shared.get(topic);
      if (refs !== undefined) {
        if (refs > 2) this.shared.set(topic, refs - 1);
        else this.shared.delete(topic);
        continue;
      }
      if (!this.has(topic, filterOf(topic))) continue;
      this.remove(topic);
      this.topicCount -= 1;
    }
  }

  /**
   * Topics to publish a notification with these routing keys to (`all` is added here), each at
   * most once. The returned array is reused by the next call: iterate it before calling again.
   */
  topicsFor(keys: readonly string[]): readonly string[] {
    const matched = this.matched;
    const out = this.out;
    matched.clear();
    out.length = 0;
    matched.add(ALL);
    for (const k of keys) matched.add(k);
    for (const k of matched) {
      const topics = this.byKey.get(k);
      if (topics === undefined) continue;
      if (typeof topics === 'string') this.consider(topics, out);
      else for (const t of topics) this.consider(t, out);
    }
    return out;
  }

  /**
   * One shared instance of a broad filter (`all`, `entity_type:…`, `notification_type:…`): a
   * connection keeps its filters, and thousands share a handful of broad ones, each of which
   * would otherwise be the connection's own copy from its JSON (40–64 B each). At most
   * MAX_INTERNED distinct ones are kept (never removed: a bounded set of short strings); others,
   * and `user:`/`entity:` filters (mostly one connection's own), are returned as they are.
   */
  intern(filter: string): string {
    if (RANK[filterKind(filter)] >= RANK.user) return filter;
    const known = this.interned.get(filter);
    if (known !== undefined) return known;
    if (this.interned.size < MAX_INTERNED) this.interned.set(filter, filter);
    return filter;
  }

  /** Distinct topics in use. */
  get size(): number {
    return this.topicCount;
  }

  /** Adds the topic unless one of its exclusions (the segments after its filter) matched. */
  private consider(topic: string, out: string[]): void {
    for (let at = topic.indexOf(SEPARATOR); at >= 0; ) {
      const start = at + 1;
      at = topic.indexOf(SEPARATOR, start);
      const length = (at < 0 ? topic.length : at) - start;
      for (const k of this.matched) if (k.length === length && topic.startsWith(k, start)) return;
    }
    out.push(topic);
  }

  /** Whether some connection holds this topic (of this filter). */
  private has(topic: string, filter: string): boolean {
    const existing = this.byKey.get(filter);
    return existing === topic || (typeof existing === 'object' && existing.has(topic));
  }

  private add(topic: string, filter: string): void {
    const existing = this.byKey.get(filter);
    if (existing === undefined) this.byKey.set(filter, topic);
    else if (typeof existing === 'string') this.byKey.set(filter, new Set([existing, topic]));
    else existing.add(topic);
  }

  private remove(topic: string): void {
    const filter = filterOf(topic);
    const existing = this.byKey.get(filter);
    if (existing === undefined) return;
    if (typeof existing === 'string') {
      if (existing === topic) this.byKey.delete(filter);
      return;
    }
    existing.delete(topic);
    if (existing.size === 1) this.byKey.set(filter, existing.values().next().value as string);
  }
}

/** The filter a topic delivers through (its first segment). */
function filterOf(topic: string): string {
  const end = topic.indexOf(SEPARATOR);
  return end < 0 ? topic : topic.slice(0, end);
}

/** The set in canonical order; `all` matches everything, so a set containing it is just `all`. */
function ordered(filters: Iterable<string>): string[] {
  const set = new Set(filters);
  return set.has(ALL) ? [ALL] : [...set].sort(canonical);
}

/** Topic i: filter i, then the filters before it (the ones that must not match). */
function topicsOfOrdered(sorted: readonly string[]): string[] {
  return sorted.map((f, i) => (i === 0 ? f : [f, ...sorted.slice(0, i)].join(SEPARATOR)));
}

function canonical(a: string, b: string): number {
  return RANK[filterKind(a)] - RANK[filterKind(b)] || (a < b ? -1 : a > b ? 1 : 0);
}

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
 * Topic names, linear in the filters (issue 13): topic 1 is the bare filter f1 (no exclusions:
 * a single-filter connection costs one subscription to a shared topic, as cheap as it gets);
 * topic i > 1 is `fi` + "\n" + the id of the prefix f1…f(i-1). Prefixes are interned in a trie
 * (a node per distinct prefix: its last filter and its parent), so a prefix's id stands for its
 * whole sequence: two topics are equal exactly when their filter and exclusion sets are. Ids are
 * small integers in base 36, refcounted and reused once free, so every id is below the most
 * prefixes ever alive at once (`prefixIdsPeak`, P): a topic is at most MAX_FILTER_LENGTH + 1 +
 * ⌈log36 P⌉ characters (≤ 262 for 256-character filters while P stays under 60 million; a
 * connection with n filters holds at most n − 1 prefixes of its own), and a connection's topic
 * names total its filters' length plus at most 1 + ⌈log36 P⌉ characters per filter. (They
 * used to be topic i = fi, f1, …, f(i-1) joined: 100 filters of 256 characters made 1.3 MB of
 * names per connection, a topic of 25.7 KB.) Connections sharing a prefix share its node: the
 * common `user:<i>` + two broad filters holds two nodes in all, not two per connection.
 *
 * The topics of a held set are derived from the set and the index (`topicsOf`), as the edge does
 * at unsubscribe and close time instead of storing them.
 *
 * Publishing a notification: for each of its routing keys, the topics delivering through that key
 * whose exclusions (the prefix's filters, from the trie) all miss.
 *
 * Memory matters (one entry per distinct topic, often one per connection, e.g. `user:<id>`): a
 * key used by a single topic maps to that topic string directly rather than to a one-element Set;
 * a topic's exclusions are read from the trie through the id in its name rather than kept in a
 * map per topic; and broad filters, which many connections share, are interned (`intern`).
 *
 * Payload predicates (issue 15 §4): a subscription with a `where` is one more "filter" here, its
 * subscription id (protocol/subscription.ts), ranked after every bare filter. It matches a
 * notification when its filter is one of the notification's keys and its predicate holds: before
 * looking topics up, `topicsFor` evaluates each distinct predicated id whose filter matched, once,
 * and counts the ones that hold as matched keys. Everything else (exclusions, exactly one copy,
 * native publish) is unchanged, and an index without predicates does no extra work.
 */
import { ALL, filterKind, type FilterKind } from '../protocol/filters.js';
import type { CompiledPredicate } from '../protocol/predicates.js';
import { filterOf, hasWhere } from '../protocol/subscription.js';
import { PrefixTrie, SEPARATOR, type Prefix } from './prefix-trie.js';
import { Wheres } from './wheres.js';

/** Distinct broad filters interned at most (see FilterIndex.intern). */
const MAX_INTERNED = 10_000;

/** Broad kinds first: they are the ones many connections share. */
const RANK: Record<FilterKind, number> = { all: 0, entity_type: 1, notification_type: 2, user: 3, entity: 4 };
const PREDICATED = 5;

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
  /** The prefixes of held sets (prefix-trie.ts): their ids name the topics past the first. */
  private readonly prefixes = new PrefixTrie();
  /** filter → the predicated subscription ids on it that some topic delivers through, with their predicates. */
  private readonly predicated = new Map<string, Map<string, CompiledPredicate>>();
  /** This notification's answer of each predicate evaluated so far (topicsFor). */
  private readonly verdicts = new Map<CompiledPredicate, boolean>();

  /**
   * `namespace` begins every topic name of this index, so that several indexes (one per tenant
   * scope, scoped-indexes.ts) share uWS's one topic space without meeting. It holds no "\n"
   * (the trie's separator) and no ":" at its end.
   */
  constructor(
    readonly namespace = '',
    private readonly wheres = new Wheres(),
  ) {}

  /**
   * The topics of a filter set (filters in any order; duplicates ignored), in canonical order, as
   * `acquire` returns them while some connection holds the set. `all` matches everything, so a
   * set containing it is just `all`. Of a set nobody holds, the topics past a prefix nobody holds
   * are names no connection has (releasing them does nothing).
   */
  topicsOf(filters: Iterable<string>): string[] {
    const sorted = ordered(filters);
    const topics = new Array<string>(sorted.length);
    let prefix: Prefix | undefined;
    let known = true;
    for (let i = 0; i < sorted.length; i++) {
      const filter = sorted[i] as string;
      topics[i] = this.namespace + (i === 0 ? filter : known && prefix !== undefined ? this.prefixes.topicName(filter, prefix) : filter + SEPARATOR);
      if (known && i < sorted.length - 1) {
        prefix = this.prefixes.childOf(prefix, filter);
        known = prefix !== undefined;
      }
    }
    return topics;
  }

  /** Prefix ids in use (this index's held sets). */
  get prefixesInUse(): number {
    return this.prefixes.inUse;
  }

  /** The most prefixes alive at once so far: every prefix id is below it. */
  get prefixIdsPeak(): number {
    return this.prefixes.peak;
  }

  /** Registers one more connection with this filter set; returns the topics it must subscribe to. */
  acquire(filters: Iterable<string>): string[] {
    const sorted = ordered(filters);
    const topics = new Array<string>(sorted.length);
    let prefix: Prefix | undefined;
    for (let i = 0; i < sorted.length; i++) {
      const filter = sorted[i] as string;
      let topic = this.namespace === '' ? filter : this.namespace + filter;
      if (prefix !== undefined) {
        topic = this.namespace + this.prefixes.topicName(filter, prefix);
        prefix.refs += 1;
      }
      topics[i] = topic;
      if (this.has(topic, filter)) {
        this.shared.set(topic, (this.shared.get(topic) ?? 1) + 1);
      } else {
        // The connection's own filter strings serve as keys: no copies per topic.
        this.add(topic, filter);
        this.topicCount += 1;
      }
      if (i < sorted.length - 1) prefix = this.prefixes.childOf(prefix, filter) ?? this.prefixes.add(prefix, filter);
    }
    return topics;
  }

  /** Unregisters one connection from these topics (as `acquire` returned them). */
  release(topics: readonly string[]): void {
    for (const topic of topics) {
      const refs = this.shared.get(topic);
      if (refs !== undefined) {
        if (refs > 2) this.shared.set(topic, refs - 1);
        else this.shared.delete(topic);
      } else {
        if (!this.has(topic, this.topicFilter(topic))) continue;
        this.remove(topic);
        this.topicCount -= 1;
      }
      const prefix = this.prefixes.of(topic);
      if (prefix !== undefined) this.prefixes.unref(prefix);
    }
  }

  /**
   * Topics to publish a notification with these routing keys to (`all` is added here), each at
   * most once. The returned array is reused by the next call: iterate it before calling again.
   */
  topicsFor(keys: readonly string[], envelope?: () => unknown): readonly string[] {
    const matched = this.matched;
    const out = this.out;
    matched.clear();
    out.length = 0;
    matched.add(ALL);
    for (const k of keys) matched.add(k);
    if (this.predicated.size > 0 && envelope !== undefined) {
      this.verdicts.clear();
      this.holding(ALL, envelope);
      for (const k of keys) this.holding(k, envelope);
    }
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
    if (RANK[filterKind(filter)] >= RANK.user || hasWhere(filter)) return filter;
    const known = this.interned.get(filter);
    if (known !== undefined) return known;
    if (this.interned.size < MAX_INTERNED) this.interned.set(filter, filter);
    return filter;
  }

  /** Distinct topics in use. */
  get size(): number {
    return this.topicCount;
  }

  /** Adds to `matched` the predicated ids on this filter whose predicate holds. */
  private holding(filter: string, envelope: () => unknown): void {
    const ids = this.predicated.get(filter);
    if (ids === undefined) return;
    const env = envelope();
    for (const [id, predicate] of ids) {
      // One predicate may narrow several filters: evaluated once per notification all the same.
      let holds = this.verdicts.get(predicate);
      if (holds === undefined) this.verdicts.set(predicate, (holds = predicate.test(env)));
      if (holds) this.matched.add(id);
    }
  }

  /** Adds the topic unless one of its exclusions (its prefix's filters) matched. */
  private consider(topic: string, out: string[]): void {
    for (let p = this.prefixes.of(topic); p !== undefined; p = p.parent) if (this.matched.has(p.filter)) return;
    out.push(topic);
  }

  /** The filter a topic delivers through (its first segment, after the namespace). */
  private topicFilter(topic: string): string {
    const end = topic.indexOf(SEPARATOR);
    return topic.slice(this.namespace.length, end < 0 ? topic.length : end);
  }

  /** Whether some connection holds this topic (of this filter). */
  private has(topic: string, filter: string): boolean {
    const existing = this.byKey.get(filter);
    return existing === topic || (typeof existing === 'object' && existing.has(topic));
  }

  private add(topic: string, filter: string): void {
    const existing = this.byKey.get(filter);
    if (existing === undefined && hasWhere(filter)) this.addPredicated(filter);
    if (existing === undefined) this.byKey.set(filter, topic);
    else if (typeof existing === 'string') this.byKey.set(filter, new Set([existing, topic]));
    else existing.add(topic);
  }

  private remove(topic: string): void {
    const filter = this.topicFilter(topic);
    const existing = this.byKey.get(filter);
    if (existing === undefined) return;
    if (typeof existing === 'string') {
      if (existing !== topic) return;
      this.byKey.delete(filter);
      if (hasWhere(filter)) this.removePredicated(filter);
      return;
    }
    existing.delete(topic);
    if (existing.size === 1) this.byKey.set(filter, existing.values().next().value as string);
  }

  private addPredicated(id: string): void {
    const predicate = this.wheres.predicateOf(id);
    if (predicate === undefined) throw new Error('a predicated subscription reached the index before its predicate was retained');
    const filter = filterOf(id);
    let ids = this.predicated.get(filter);
    if (ids === undefined) this.predicated.set(filter, (ids = new Map()));
    ids.set(id, predicate);
  }

  private removePredicated(id: string): void {
    const filter = filterOf(id);
    const ids = this.predicated.get(filter);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.predicated.delete(filter);
  }
}

/** The set in canonical order; `all` matches everything, so a set containing it is just `all`. */
function ordered(filters: Iterable<string>): string[] {
  const set = new Set(filters);
  return set.has(ALL) ? [ALL] : [...set].sort(canonical);
}

/** Bare filters by kind, then predicated subscriptions (rarely shared) by kind. */
function rank(filter: string): number {
  return RANK[filterKind(filter)] + (hasWhere(filter) ? PREDICATED : 0);
}

function canonical(a: string, b: string): number {
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

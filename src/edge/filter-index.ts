/**
 * Interns each distinct filter set as one uWS topic and indexes filter key → topics.
 *
 * Every connection is subscribed to exactly one topic: the canonical string of its own filter
 * set, shared by all connections with the same set. A notification is published once to each
 * topic whose set contains any of its keys, so a connection gets exactly one copy even when its
 * filters overlap, and fan-out to the sockets happens in native code.
 */
import { ALL } from '../protocol/filters.js';

interface FilterSet {
  filters: readonly string[];
  refs: number;
}

export class FilterIndex {
  private readonly sets = new Map<string, FilterSet>();
  private readonly byKey = new Map<string, Set<string>>();
  private readonly scratch = new Set<string>();

  /** The topic of a filter set (filters in any order; duplicates ignored). */
  static topicOf(filters: Iterable<string>): string {
    return [...new Set(filters)].sort().join('\n');
  }

  /** Registers one more connection on the set; returns its topic. */
  acquire(filters: Iterable<string>): string {
    const topic = FilterIndex.topicOf(filters);
    const existing = this.sets.get(topic);
    if (existing) {
      existing.refs += 1;
      return topic;
    }
    const set: FilterSet = { filters: topic.split('\n'), refs: 1 };
    this.sets.set(topic, set);
    for (const f of set.filters) {
      let topics = this.byKey.get(f);
      if (!topics) this.byKey.set(f, (topics = new Set()));
      topics.add(topic);
    }
    return topic;
  }

  /** Unregisters one connection from the set; forgets the set when no connection uses it. */
  release(topic: string): void {
    const set = this.sets.get(topic);
    if (!set) return;
    if (--set.refs > 0) return;
    this.sets.delete(topic);
    for (const f of set.filters) {
      const topics = this.byKey.get(f);
      topics?.delete(topic);
      if (topics?.size === 0) this.byKey.delete(f);
    }
  }

  /**
   * Topics to publish a notification with these routing keys to (`all` is added here). The
   * returned collection is reused by the next call: iterate it before calling again.
   */
  topicsFor(keys: readonly string[]): ReadonlySet<string> {
    const out = this.scratch;
    out.clear();
    addAll(out, this.byKey.get(ALL));
    for (const k of keys) addAll(out, this.byKey.get(k));
    return out;
  }

  get size(): number {
    return this.sets.size;
  }
}

function addAll(out: Set<string>, topics: Set<string> | undefined): void {
  if (topics) for (const t of topics) out.add(t);
}

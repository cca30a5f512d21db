/**
 * Routing indexes by tenant scope (issue 14 §4): unscoped connections share one FilterIndex; the
 * connections of each scope key (protocol/scope.ts) have their own, whose topic names begin with
 * that key. A notification is published to the unscoped index's topics and to those of its own
 * scope's index: still one native publish per matching topic, and a scoped connection is never
 * on a topic another scope's notification is published to.
 *
 * A scope's index exists while some connection of that scope holds a subscription.
 *
 * Every index shares one Wheres: the compiled predicates of every scope's subscriptions.
 *
 * May import filter-index and wheres.
 */
import { FilterIndex } from './filter-index.js';
import { Wheres } from './wheres.js';

/** Around a scope key in topic names: no filter starts with it, and keys hold no control characters. */
const MARK = '\u001e';

export class ScopedIndexes {
  readonly unscoped: FilterIndex;
  private readonly scoped = new Map<string, FilterIndex>();

  constructor(readonly wheres = new Wheres()) {
    this.unscoped = new FilterIndex('', wheres);
  }

  /** The index of a scope (undefined: the unscoped one), created when missing. */
  of(scope: string | undefined): FilterIndex {
    if (scope === undefined) return this.unscoped;
    let index = this.scoped.get(scope);
    if (index === undefined) {
      index = new FilterIndex(MARK + scope + MARK, this.wheres);
      this.scoped.set(scope, index);
    }
    return index;
  }

  /** The index of a scope if some connection of it is subscribed. */
  find(scope: string): FilterIndex | undefined {
    return this.scoped.get(scope);
  }

  /** Drops a scope's index once it routes nothing. */
  prune(scope: string | undefined): void {
    if (scope === undefined) return;
    const index = this.scoped.get(scope);
    if (index !== undefined && index.size === 0 && index.prefixesInUse === 0) this.scoped.delete(scope);
  }

  /** Scopes with subscribed connections: when 0, delivery reads no notification's scope. */
  get scopes(): number {
    return this.scoped.size;
  }

  /** Distinct topics in use, every index together. */
  get size(): number {
    let n = this.unscoped.size;
    for (const index of this.scoped.values()) n += index.size;
    return n;
  }
}

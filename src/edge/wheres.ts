/**
 * The edge's compiled payload predicates (protocol/predicates.ts), one per distinct canonical
 * key: every connection subscribed with the same `where` shares one compiled predicate, and
 * delivery evaluates it once per notification (filter-index.ts), not once per connection. Held
 * while some connection's subscription uses it (Subscriptions retains and releases), so hostile
 * clients cannot grow it beyond what their open subscriptions hold.
 *
 * May import protocol.
 */
import { ALL } from '../protocol/filters.js';
import type { CompiledPredicate } from '../protocol/predicates.js';
import { filterOf, whereKeyOf, type WireSubscription } from '../protocol/subscription.js';

interface Held {
  readonly predicate: CompiledPredicate;
  refs: number;
}

export class Wheres {
  private readonly byKey = new Map<string, Held>();

  /** Distinct predicates in use. */
  get size(): number {
    return this.byKey.size;
  }

  /** One more subscription uses this predicate (none for a bare filter). */
  retain(sub: WireSubscription): void {
    if (sub.where === undefined) return;
    const held = this.byKey.get(sub.where.key);
    if (held !== undefined) held.refs += 1;
    else this.byKey.set(sub.where.key, { predicate: sub.where.predicate, refs: 1 });
  }

  /** A subscription (by id) that used a predicate is gone. */
  release(id: string): void {
    const key = whereKeyOf(id);
    if (key === undefined) return;
    const held = this.byKey.get(key);
    if (held === undefined) return;
    if (--held.refs === 0) this.byKey.delete(key);
  }

  /** The compiled predicate of a subscription id, or undefined for a bare filter. */
  predicateOf(id: string): CompiledPredicate | undefined {
    const key = whereKeyOf(id);
    return key === undefined ? undefined : this.byKey.get(key)?.predicate;
  }

  /**
   * Whether any of these subscription ids matches a notification (its routing keys, and its
   * envelope for predicates, parsed only if some predicate's filter matched): the reference
   * check, as replay uses it; live routing gets the same answer from the filter index.
   */
  matches(ids: readonly string[], keys: readonly string[], envelope: () => unknown): boolean {
    let parsed = false;
    let env: unknown;
    for (const id of ids) {
      const filter = filterOf(id);
      if (filter !== ALL && !keys.includes(filter)) continue;
      if (filter === id) return true;
      if (!parsed) {
        env = envelope();
        parsed = true;
      }
      if (this.predicateOf(id)?.test(env) === true) return true;
    }
    return false;
  }
}

/** A notification frame's envelope, parsed (undefined when it is not JSON, which no predicate matches). */
export function parseEnvelope(frame: string | Buffer): unknown {
  try {
    return JSON.parse(typeof frame === 'string' ? frame : frame.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

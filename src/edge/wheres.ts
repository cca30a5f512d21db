/**
 * The edge's compiled payload predicates (protocol/predicates.ts), one per distinct canonical
 * key: every connection subscribed with the same `where` shares one compiled predicate, and
 * delivery evaluates it once per notification (filter-index.ts), not once per connection. Held
 * while some connection's subscription uses it (Subscriptions retains and releases), so hostile
 * clients cannot grow it beyond what their open subscriptions hold.
 *
 * May import the bus contract (types) and protocol.
 */
import type { BusNotification } from '../bus/bus.js';
import { ALL } from '../protocol/filters.js';
import type { CompiledPredicate } from '../protocol/predicates.js';
import { filterOf, whereKeyOf, type WireSubscription } from '../protocol/subscription.js';

interface Held {
  readonly predicate: CompiledPredicate;
  refs: number;
}

export class Wheres {
  private readonly byKey = new Map<string, Held>();
  /** Each replayed notification's verdict per predicate key (see wants). */
  private readonly verdicts = new WeakMap<BusNotification, Map<string, boolean>>();

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
   * Whether any of these subscription ids matches a notification (its routing keys, and for a
   * predicate its envelope): replay's check; live routing gets the same answer from the filter
   * index. A predicate's verdict is kept beside the notification (gone with it), so a reconnect
   * storm of clients with the same predicate parses and tests each replayed notification once,
   * not once per client.
   */
  wants(ids: readonly string[], n: BusNotification): boolean {
    let verdicts: Map<string, boolean> | undefined;
    let envelope: unknown;
    let parsed = false;
    for (const id of ids) {
      const filter = filterOf(id);
      if (filter !== ALL && !n.keys.includes(filter)) continue;
      const key = whereKeyOf(id);
      if (key === undefined) return true;
      verdicts ??= this.verdictsOf(n);
      let holds = verdicts.get(key);
      if (holds === undefined) {
        if (!parsed) {
          envelope = parseEnvelope(n.frame);
          parsed = true;
        }
        holds = this.byKey.get(key)?.predicate.test(envelope) === true;
        verdicts.set(key, holds);
      }
      if (holds) return true;
    }
    return false;
  }

  private verdictsOf(n: BusNotification): Map<string, boolean> {
    let verdicts = this.verdicts.get(n);
    if (verdicts === undefined) this.verdicts.set(n, (verdicts = new Map()));
    return verdicts;
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

/**
 * The client's handlers by subscription: handlers of one (filter, where) share one server
 * subscription, which lasts until the last of them unsubscribes. The edge sends a notification
 * once however many of the connection's subscriptions match, so each is dispatched here to every
 * handler whose filter matches (by its routing keys) and whose predicate holds; a handler that
 * throws does not stop the others.
 *
 * Imports: protocol/ and client types only.
 */
import { ALL, parseFilter, routingKeys } from '../protocol/filters.js';
import type { Notification } from './types.js';
import { compileWhere, type ClientWhere } from './where.js';

/** One server subscription: its filter and predicate, and `id`, unique per (filter, canonical where). */
export interface ClientSubscription {
  readonly filter: string;
  readonly where: ClientWhere | undefined;
  readonly id: string;
}

export type Handler = (n: Notification) => void;

interface Entry {
  readonly sub: ClientSubscription;
  /** One key per `add` (so one handler added twice is removed one at a time) → the handler. */
  readonly handlers: Map<object, Handler>;
}

/** Checks a filter and its optional where; throws a TypeError on a wrong one. */
export function subscriptionOf(filter: string, raw: unknown): ClientSubscription {
  const parsed = parseFilter(filter);
  if (!parsed.ok) throw new TypeError(parsed.message);
  const where = raw === undefined ? undefined : compileWhere(raw);
  return { filter, where, id: where ? filter + '\u001f' + where.key : filter };
}

/** A subscription as sent: the filter and, when it has one, the predicate in canonical form. */
export function wire(s: ClientSubscription): { filter: string; where?: unknown } {
  return s.where ? { filter: s.filter, where: JSON.parse(s.where.key) as unknown } : { filter: s.filter };
}

export class HandlerSets {
  private readonly byId = new Map<string, Entry>();

  /** `first`: the subscription had no handler (subscribe it); `remove()` is true when it was the last (unsubscribe). */
  add(sub: ClientSubscription, handler: Handler): { first: boolean; remove: () => boolean } {
    let entry = this.byId.get(sub.id);
    const first = entry === undefined;
    if (!entry) this.byId.set(sub.id, (entry = { sub, handlers: new Map() }));
    const own = {};
    entry.handlers.set(own, handler);
    return {
      first,
      remove: () => {
        const e = this.byId.get(sub.id);
        if (!e?.handlers.delete(own) || e.handlers.size > 0) return false;
        this.byId.delete(sub.id);
        return true;
      },
    };
  }

  subscriptions(): ClientSubscription[] {
    return [...this.byId.values()].map((e) => e.sub);
  }

  /** The server refused one subscription: its handlers go. */
  remove(id: string): void {
    this.byId.delete(id);
  }

  /** The server refused a filter: the handlers of every subscription on it go. */
  delete(filter: string): void {
    for (const [id, e] of this.byId) if (e.sub.filter === filter) this.byId.delete(id);
  }

  /** Each handler once, even one given for several subscriptions that all match. */
  dispatch(n: Notification, onError: (error: unknown) => void): void {
    const keys = new Set(routingKeys(n));
    const called = new Set<Handler>();
    for (const { sub, handlers } of this.byId.values()) {
      if (sub.filter !== ALL && !keys.has(sub.filter)) continue;
      if (sub.where && !sub.where.test(n)) continue;
      for (const [own, h] of [...handlers]) {
        if (called.has(h) || !handlers.has(own)) continue;
        called.add(h);
        try {
          h(n);
        } catch (error) {
          onError(error);
        }
      }
    }
  }
}

/**
 * The client's handlers by filter: handlers of one filter share one server subscription, which
 * lasts until the last of them unsubscribes; a notification reaches each handler of each filter it
 * matches (by its routing keys), and a handler that throws does not stop the others.
 *
 * Imports: protocol/ and client types only.
 */
import { routingKeys } from '../protocol/filters.js';
import type { Notification } from './types.js';

export type Handler = (n: Notification) => void;

export class HandlerSets {
  private readonly byFilter = new Map<string, Set<Handler>>();

  /** `first`: the filter had no handler (subscribe it); `remove()` is true when it was the last (unsubscribe). */
  add(filter: string, handler: Handler): { first: boolean; remove: () => boolean } {
    let set = this.byFilter.get(filter);
    const first = set === undefined;
    if (!set) this.byFilter.set(filter, (set = new Set()));
    const own: Handler = (n) => handler(n);
    set.add(own);
    return {
      first,
      remove: () => {
        const s = this.byFilter.get(filter);
        if (!s?.delete(own) || s.size > 0) return false;
        this.byFilter.delete(filter);
        return true;
      },
    };
  }

  filters(): string[] {
    return [...this.byFilter.keys()];
  }

  /** The server refused the filter: its handlers go. */
  delete(filter: string): void {
    this.byFilter.delete(filter);
  }

  dispatch(n: Notification, onError: (error: unknown) => void): void {
    const keys = new Set(routingKeys(n));
    for (const [filter, handlers] of this.byFilter) {
      if (filter !== 'all' && !keys.has(filter)) continue;
      for (const h of [...handlers]) {
        try {
          h(n);
        } catch (error) {
          onError(error);
        }
      }
    }
  }
}

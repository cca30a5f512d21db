/**
 * The scope key of each notification (protocol/scope.ts), read from its frame once: delivery
 * reads it as the notification goes live, and every scoped connection that replays it later
 * reads the same answer, without parsing the frame again (a reconnect storm of scoped clients
 * replays each notification once per client). Kept beside the notification object, which the
 * edge's recent history holds, and gone with it.
 *
 * May import the bus contract (types) and protocol.
 */
import type { BusNotification } from '../bus/bus.js';
import { frameScopeKey } from '../protocol/scope.js';

/** No scope key: the notification goes to no scoped connection. */
const NONE = '';

export class NotificationScopes {
  private readonly keys = new WeakMap<BusNotification, string>();

  /** NOTIFIER_SCOPE_FIELDS. */
  constructor(private readonly fields: readonly string[]) {}

  /** The notification's scope key, or undefined when it has none. */
  of(n: BusNotification): string | undefined {
    let key = this.keys.get(n);
    if (key === undefined) {
      key = frameScopeKey(this.fields, n.frame) ?? NONE;
      this.keys.set(n, key);
    }
    return key === NONE ? undefined : key;
  }
}

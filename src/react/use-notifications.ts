/**
 * useNotifications(filter, options): subscribes the provider's client to one filter while the
 * component is mounted (again when the filter, `where` or `enabled` changes; unsubscribed on
 * unmount), and returns the newest notifications, the latest one, the connection state, the last
 * `reset` (notifications were missed: reload) and a filter error (invalid or forbidden).
 * useEntityNotifications(type, id) is the same for `entity:TYPE:ID`, or `entity_type:TYPE`.
 *
 * Imports: client/ and react only.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ClientError, ClientState, Notification, ResetEvent, Where } from '../client/types.js';
import { useConnectionState } from './use-connection-state.js';
import { useNotifierClient } from './provider.js';

export interface UseNotificationsOptions {
  /** `false`: not subscribed (e.g. until the id to watch is known). Default `true`. */
  enabled?: boolean;
  /** How many notifications `notifications` keeps, newest first. Default 50; 0 keeps none (`latest`, `count` and `onNotification` still see each). */
  max?: number;
  /** Only notifications for which it holds, decided by the edge (README: "Payload predicates"). Compared by value: a new but equal object does not resubscribe. */
  where?: Where;
  /** Called for each notification, in order. The newest function passed is called; changing it does not resubscribe. */
  onNotification?: (notification: Notification) => void;
  /** Called when the client could not resume after a reconnect and notifications were missed: reload what the page shows. */
  onReset?: (reset: ResetEvent) => void;
}

/** A subscription the client refused (`invalid`: the filter or `where`, before sending) or the edge refused (`forbidden`: the token does not allow the filter). */
export type FilterError = Extract<ClientError, { kind: 'forbidden' }> | { kind: 'invalid'; filter: string; message: string };

export interface NotificationsResult {
  /** The newest `max` notifications, newest first. */
  notifications: Notification[];
  latest: Notification | undefined;
  /** Notifications received since subscribing (or since `clear()`). */
  count: number;
  state: ClientState;
  /** The last reset seen while mounted: when it changes, notifications were missed. */
  reset: ResetEvent | undefined;
  error: FilterError | undefined;
  /** Empties `notifications`, `latest` and `count` (e.g. after reloading). */
  clear(): void;
}

interface Received {
  notifications: Notification[];
  latest: Notification | undefined;
  count: number;
}

const NONE: Received = { notifications: [], latest: undefined, count: 0 };

export function useNotifications(filter: string | null | undefined, options: UseNotificationsOptions = {}): NotificationsResult {
  const client = useNotifierClient();
  const state = useConnectionState();
  const { enabled = true, where } = options;
  const whereKey = where === undefined ? undefined : JSON.stringify(where);
  // Read at each notification: changing these must not resubscribe.
  const latest = useRef(options);
  latest.current = options;
  const [received, setReceived] = useState<Received>(NONE);
  const [reset, setReset] = useState<ResetEvent>();
  const [error, setError] = useState<FilterError>();

  useEffect(() => {
    if (!client || !enabled || !filter) return;
    setReceived(NONE);
    setError(undefined);
    const handler = (n: Notification) => {
      const max = latest.current.max ?? 50;
      setReceived((r) => ({ notifications: max > 0 ? [n, ...r.notifications].slice(0, max) : NONE.notifications, latest: n, count: r.count + 1 }));
      latest.current.onNotification?.(n);
    };
    const offReset = client.on('reset', (r) => {
      setReset(r);
      latest.current.onReset?.(r);
    });
    const offError = client.on('error', (e) => {
      if (e.kind === 'forbidden' && e.filter === filter) setError(e);
    });
    let unsubscribe = () => {};
    try {
      const sub = client.subscribe(filter, whereKey === undefined ? {} : { where: JSON.parse(whereKey) as Where }, handler);
      unsubscribe = () => sub.unsubscribe();
    } catch (e) {
      setError({ kind: 'invalid', filter, message: e instanceof Error ? e.message : String(e) });
    }
    return () => {
      unsubscribe();
      offReset();
      offError();
    };
  }, [client, enabled, filter, whereKey]);

  const clear = useCallback(() => setReceived(NONE), []);
  return { ...received, state, reset, error, clear };
}

export type UseEntityNotificationsOptions = UseNotificationsOptions;

/**
 * Notifications about one entity (`entity:TYPE:ID`), or about every entity of a type
 * (`entity_type:TYPE`) when `entityId` is null or undefined. Nothing while `entityType` is.
 */
export function useEntityNotifications(
  entityType: string | null | undefined,
  entityId?: string | number | null,
  options: UseEntityNotificationsOptions = {},
): NotificationsResult {
  const filter = !entityType ? undefined : entityId === null || entityId === undefined ? `entity_type:${entityType}` : `entity:${entityType}:${entityId}`;
  return useNotifications(filter, options);
}

/**
 * useWebSocket: seed 004's hook (`{ isConnected } = useWebSocket({ onMessage })`), with the
 * connection, reconnect with back-off, resume and cleanup left to the provider's client. One
 * subscription per filter; the dashboard reloads on the notification types it cares about.
 */
import { useNotifications, type Notification } from 'notifier/react';

export interface UseWebSocketOptions {
  /** Default `all`. */
  filter?: string;
  onMessage: (notification: Notification) => void;
}

export function useWebSocket({ filter = 'all', onMessage }: UseWebSocketOptions): { isConnected: boolean } {
  const { state } = useNotifications(filter, { max: 0, onNotification: onMessage });
  return { isConnected: state === 'connected' };
}

/** The dashboard's use of it: reload on alerts, decisions and agent changes; not on every report. */
export function useDashboardUpdates(reload: () => void): { isConnected: boolean } {
  return useWebSocket({
    onMessage: (n) => {
      if (['alert_triggered', 'decision_made', 'agent_status_changed'].includes(n.notification_type)) reload();
    },
  });
}

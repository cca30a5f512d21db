/**
 * useLiveRefetch: the seeds' simplest pattern (the Events page, the dashboard): refetch when
 * something of a type changed, instead of polling. Also refetches after missed notifications
 * (`reset`), and says whether updates are live, for a "Live updates" dot.
 */
import { useEntityNotifications } from 'notifier/react';

export function useLiveRefetch(entityType: string, refetch: () => void): { live: boolean } {
  const { state } = useEntityNotifications(entityType, null, { max: 0, onNotification: refetch, onReset: refetch });
  return { live: state === 'connected' };
}

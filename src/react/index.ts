/**
 * React hooks for the notifier client SDK (`notifier/react`): a provider holding one
 * NotifierClient, and hooks that subscribe while a component is mounted. `react` (18 or 19) is an
 * optional peer dependency: only this entry point needs it.
 *
 * Imports: client/, protocol/ and react only.
 */
export { NotifierProvider, useNotifierClient, type NotifierProviderProps } from './provider.js';
export { useConnectionState } from './use-connection-state.js';
export {
  useEntityNotifications,
  useNotifications,
  type FilterError,
  type NotificationsResult,
  type UseEntityNotificationsOptions,
  type UseNotificationsOptions,
} from './use-notifications.js';
export type { ClientState, Notification, NotifierClientOptions, ResetEvent, Where } from '../client/types.js';
export { NotifierClient } from '../client/client.js';

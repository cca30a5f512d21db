/**
 * The notifier client SDK (`notifier/client`): ESM, no runtime dependencies, for browsers and Node.
 *
 * Imports: client/ and protocol/ only.
 */
export { NotifierClient } from './client.js';
export type {
  ClientError,
  ClientEvents,
  ClientState,
  CloseInfo,
  Notification,
  NotifierClientOptions,
  ResetEvent,
  ResumedEvent,
  SocketLike,
  SubscribeOptions,
  Subscription,
  Where,
  Welcome,
  WebSocketConstructor,
} from './types.js';

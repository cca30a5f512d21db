/**
 * WebSocket close codes used by edges. Ranges follow the convention of centrifuge:
 * 4000–4499 mean "reconnect (and resume)", 4500–4999 mean "do not reconnect as is".
 */
export const CloseCode = {
  /** Normal closure requested by the client or server. */
  Normal: 1000,
  /** The edge is shutting down or restarting: reconnect (to any edge). */
  ServiceRestart: 1012,
  /** The connection fell too far behind (outbound buffer over NOTIFIER_MAX_BACKPRESSURE_BYTES): reconnect. */
  SlowConsumer: 4001,
  /** Inbound message rate exceeded: reconnect after a back-off. */
  RateLimited: 4002,
  /** This edge missed notifications that are no longer in the history: reconnect and resume (expect reset). */
  Resync: 4003,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

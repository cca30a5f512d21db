/**
 * The client SDK's public types: its options, events and what the edge sends.
 *
 * Imports: protocol/ types only.
 */
import type { Envelope } from '../protocol/envelope.js';

/** The part of a WebSocket the client uses: the browser's, `ws`'s, or a test's. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor (`globalThis.WebSocket` in browsers; `ws`'s `WebSocket` in Node 20). */
export type WebSocketConstructor = new (url: string, protocols: string[]) => object;

export interface NotifierClientOptions {
  /** `wss://host/ws` */
  url: string;
  /** Called for every connect and every refresh, so a stale token is never reused. Undefined or '': connect without one. */
  token?: () => string | undefined | Promise<string | undefined>;
  /** Default: `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Full-jitter back-off: delay = random(0, min(maxMs, minMs · 2^attempt)). Default 500 ms, 20 s. */
  reconnect?: { minMs?: number; maxMs?: number };
  /** Nothing heard for this long: the connection is taken as dead and replaced. A `ping` is sent every half of it. Default 30 s; 0 turns it off. */
  staleAfterMs?: number;
  /** Send `refresh` with a new token this long before welcome's `expires_at`. Default 60 s. */
  refreshBeforeMs?: number;
}

export type ClientState = 'connecting' | 'connected' | 'disconnected';

/** Why the client is disconnected or reconnecting: the close code and reason the socket gave. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** A notification as the edge sends it: the envelope and its offset. */
export type Notification = Envelope & { offset?: string };

export interface Welcome {
  client_id: string;
  epoch?: string;
  offset?: string;
  user_id?: string;
  expires_at?: string;
}

export interface ResetEvent {
  /** The edge's `epoch` or `expired`; `refused` when the edge refused the resume itself (e.g. too_many_subscriptions). */
  reason: 'epoch' | 'expired' | 'refused' | string;
  epoch: string;
  offset: string;
}

export type ClientError =
  /** The token does not allow this filter: its subscriptions were dropped. */
  | { kind: 'forbidden'; filter: string; message: string }
  /** Any other `{"type":"error"}` from the edge (e.g. `unauthorized` for a refused refresh). */
  | { kind: 'server'; code: string; message: string; filter?: string }
  /** `token()` threw or rejected: the connect is retried with back-off (a refresh is not retried). */
  | { kind: 'token'; error: unknown }
  /** The WebSocket constructor threw. */
  | { kind: 'socket'; error: unknown }
  /** Nothing heard for `staleAfterMs`: the connection is replaced. */
  | { kind: 'stale' }
  /** A subscription's handler threw. */
  | { kind: 'handler'; error: unknown };

/** A resume succeeded: every missed notification was delivered; live ones follow. */
export interface ResumedEvent {
  epoch: string;
  offset: string;
  replayed: number;
}

export interface ClientEvents {
  state: (state: ClientState, info?: CloseInfo) => void;
  resumed: (resumed: ResumedEvent) => void;
  reset: (reset: ResetEvent) => void;
  error: (error: ClientError) => void;
  welcome: (welcome: Welcome) => void;
}

/** A payload predicate: paths (envelope fields, then `payload`'s) to operators, AND-ed (README, "Payload predicates"). */
export type Where = Record<string, Partial<Record<'eq' | 'neq' | 'in' | 'nin' | 'exists' | 'gt' | 'gte' | 'lt' | 'lte' | 'prefix', unknown>>>;

export interface SubscribeOptions {
  /** Narrows the subscription on the server: only notifications for which it holds are sent. */
  where?: Where;
}

export interface Subscription {
  readonly filter: string;
  unsubscribe(): void;
}

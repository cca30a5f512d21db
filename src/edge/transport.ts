/**
 * The seam between a session (one client's requests and subscriptions, session.ts) and the wire
 * it arrives on: WebSocket today (ws-transport.ts), Server-Sent Events next. A session sends
 * frames, joins and leaves topics and closes with a code; it never knows which transport it is on.
 *
 * Methods take the connection's handle (`C`: uWS's socket object for WebSocket) instead of each
 * connection owning an object with methods: one transport object serves every connection, so a
 * connection costs no closure or adapter (the per-connection budget is ≤ 1.5 KB, bench scenario 3).
 *
 * May import only types: the bus's frame type, and nothing else of the edge.
 */
import type { BusNotification } from '../bus/bus.js';
import type { Permissions } from '../protocol/permissions.js';

/** A text frame as the bus carries it (serialized once) or as built for one client. */
export type Frame = BusNotification['frame'];

/**
 * Per-connection state, kept small: uWS copies these fields onto each socket's object (six or
 * fewer fit its smallest-but-one property store, 64 B; eight took 88 B). Every field holds a small
 * integer, a boolean or a shared array: no per-connection heap number, closure or topic list.
 * The topics a connection holds follow from its filters (Subscriptions.held). Adding a field
 * costs every connection: put what a feature needs elsewhere, or derive it.
 */
export interface SessionState {
  seq: number;
  /**
   * Broad ones interned (FilterIndex.intern). Replaced, never grown in place (concat, toSpliced,
   * map: exactly sized): an array grown by push, spread or filter keeps 17 slots (152 B) for one
   * filter. A replay reads the current one (filters may change while it runs).
   */
  filters: readonly string[];
  /** The rate window: whole seconds since the edge started (a small integer). */
  windowSecond: number;
  windowCount: number;
  /** New, Started (a subscribe, unsubscribe or resume was accepted: resume is only valid before any) or Replaying. */
  phase: Phase;
  /** Who the client is (its token) and where from: shared ANONYMOUS when nothing is known. */
  peer: Peer;
}

export const Phase = {
  New: 0,
  Started: 1,
  /** From a resume until its replay or reset puts it live: it joins its topics then. */
  Replaying: 2,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/**
 * A connection's client: its address and, with NOTIFIER_AUTH=jwt, its verified token. Replaced,
 * never changed in place (a token refresh makes a new one). Anonymous connections without a
 * per-IP limit share ANONYMOUS: no object per connection.
 */
export interface Peer {
  /** The client's address (X-Forwarded-For or PROXY protocol from a trusted proxy); '' when not tracked. */
  readonly ip: string;
  /** The token's subject; undefined for anonymous connections (NOTIFIER_AUTH=none). */
  readonly sub: string | undefined;
  /**
   * The token's `exp`, in seconds since the epoch as in the token (a small integer: milliseconds
   * would box a heap number per connection); Infinity when anonymous.
   */
  readonly exp: number;
  /** What the claims allow (shared by every token with the same claim). The subject's own user filter is allowsFor's. */
  readonly permissions: Permissions;
  /** The scope key (protocol/scope.ts): only notifications with it reach the connection. */
  readonly scope: string | undefined;
}

/** One transport's open connections, addressed by handle `C`. */
export interface Transport<C> {
  /** The session state the connection carries. */
  state(c: C): SessionState;
  /** False once closed: any call on a closed uWS socket throws, so callers check after an await. */
  isOpen(c: C): boolean;
  /** A control message (welcome, resumed, reset, error…), built for this client. */
  send(c: C, frame: Frame): void;
  /** One notification (a replay or backfill): WebSocket sends its frame; SSE adds its event id. */
  deliver(c: C, n: BusNotification): void;
  /** Starts receiving what is published to `topic` (see delivery.ts). */
  join(c: C, topic: string): void;
  leave(c: C, topic: string): void;
  /** Closes with a close code from protocol/close-codes.ts; nothing if already closed. */
  close(c: C, code: number, reason: string): void;
  /** Bytes queued for the client and not yet written to the socket. */
  bufferedAmount(c: C): number;
}

/** A transport's registry of open connections, for what concerns them all (lifecycle.ts). */
export interface Connections<C> extends Transport<C> {
  readonly size: number;
  /** A copy: closing connections while iterating it is safe. */
  snapshot(): C[];
}

/**
 * Every WebSocket close code a client of notifier can see, and what the client should do about it.
 * This is the one list: README's "Close codes" table shows every code here and no other
 * (test/unit/close-codes.test.ts parses the table and fails when they differ).
 *
 * Ranges follow centrifuge's convention (disconnect.go):
 * - 4000–4499 `reconnect`: reconnect (with back-off) and resume; nothing is missed.
 * - 4500–4999 `do_not_retry`: reconnecting unchanged gets the same close again; the application
 *   has to change something first (another token, a smaller frame…).
 * - 1000–1015 `standard` (RFC 6455 §7.4.1): each has its own action below.
 *
 * `closeAction` is what the client SDK will call after a close it did not ask for. A code not in
 * the list is judged by its range: 4500–4999 stop, anything else reconnect with back-off (a
 * proxy's 1001 or 1011, a code of a future edge in 4000–4499).
 *
 * Imports: nothing (pure).
 */

/** The codes by name, for the edge to close with. 1006 and 1009 are listed but never sent (see CLOSE_CODES). */
export const CloseCode = {
  Normal: 1000,
  NoCloseFrame: 1006,
  MessageTooBig: 1009,
  ServiceRestart: 1012,
  SlowConsumer: 4001,
  RateLimited: 4002,
  Resync: 4003,
  TokenExpired: 4004,
  TokenSubjectChanged: 4500,
} as const;
export type CloseCodeName = keyof typeof CloseCode;
export type CloseCode = (typeof CloseCode)[CloseCodeName];

export type CloseClass = 'standard' | 'reconnect' | 'do_not_retry';
/** What a client does after a close it did not ask for: reconnect (with back-off, then resume), or stop. */
export type CloseAction = 'reconnect' | 'stop';

export interface CloseCodeInfo {
  readonly code: CloseCode;
  readonly name: CloseCodeName;
  readonly class: CloseClass;
  readonly action: CloseAction;
  /** Who closes with it: the edge (a close frame), uWebSockets.js (no close frame), or the client's own WebSocket library. */
  readonly by: 'edge' | 'uws' | 'client';
  /** One line: when it happens and what to do. */
  readonly meaning: string;
}

type Details = Omit<CloseCodeInfo, 'code' | 'name'>;

/** Keyed by name so that the compiler refuses a code without its class, action and meaning. */
const DETAILS: { readonly [N in CloseCodeName]: Details } = {
  Normal: {
    class: 'standard',
    action: 'reconnect',
    by: 'edge',
    meaning: 'normal closure: the edge only echoes a client\'s own close with it; arriving unasked (from a proxy), reconnect',
  },
  NoCloseFrame: {
    class: 'standard',
    action: 'reconnect',
    by: 'uws',
    meaning:
      'no close frame (the connection dropped): a network cut, an inbound frame over NOTIFIER_MAX_FRAME_BYTES, or a burst past 4 × NOTIFIER_MAX_BACKPRESSURE_BYTES before the slow-consumer check; reconnect',
  },
  MessageTooBig: {
    class: 'standard',
    action: 'stop',
    by: 'client',
    meaning:
      'message too big: never sent by the edge (it drops oversize frames: 1006); the client\'s own library closes with it when a notification exceeds its limit, so raise that limit before reconnecting',
  },
  ServiceRestart: {
    class: 'standard',
    action: 'reconnect',
    by: 'edge',
    meaning: 'the edge is shutting down; reconnect to any edge and resume',
  },
  SlowConsumer: {
    class: 'reconnect',
    action: 'reconnect',
    by: 'edge',
    meaning:
      'slow consumer: more than NOTIFIER_MAX_BACKPRESSURE_BYTES waiting to be sent (checked every NOTIFIER_SLOW_CONSUMER_CHECK_MS); reconnect and resume',
  },
  RateLimited: {
    class: 'reconnect',
    action: 'reconnect',
    by: 'edge',
    meaning: 'more than NOTIFIER_MAX_INBOUND_PER_SECOND messages within one second; reconnect after a back-off and resume',
  },
  Resync: {
    class: 'reconnect',
    action: 'reconnect',
    by: 'edge',
    meaning: 'resync: this edge missed notifications no longer in the history; reconnect and resume, and expect a reset',
  },
  TokenExpired: {
    class: 'reconnect',
    action: 'reconnect',
    by: 'edge',
    meaning: 'the token expired (exp plus the allowed clock skew); reconnect with a fresh token and resume',
  },
  TokenSubjectChanged: {
    class: 'do_not_retry',
    action: 'stop',
    by: 'edge',
    meaning: 'a token refresh carried another sub than the connection\'s token; do not retry with that token (a new user needs a new connection)',
  },
};

/** Every code, in ascending order, frozen. */
export const CLOSE_CODES: readonly CloseCodeInfo[] = Object.freeze(
  (Object.keys(CloseCode) as CloseCodeName[])
    .map((name) => Object.freeze({ code: CloseCode[name], name, ...DETAILS[name] }))
    .sort((a, b) => a.code - b.code),
);

const BY_CODE: ReadonlyMap<number, CloseCodeInfo> = new Map(CLOSE_CODES.map((i) => [i.code, i]));

/** The entry of a listed code, else undefined. */
export function closeCodeInfo(code: number): CloseCodeInfo | undefined {
  return BY_CODE.get(code);
}

/** The class of a code's range; `standard` below 3000. Undefined outside 1000–4999. */
export function closeClass(code: number): CloseClass | undefined {
  if (!Number.isInteger(code)) return undefined;
  if (code >= 4500 && code <= 4999) return 'do_not_retry';
  if (code >= 4000 && code <= 4499) return 'reconnect';
  if (code >= 1000 && code <= 2999) return 'standard';
  return undefined;
}

/**
 * What a client does after the server (or the network) closed its connection: the listed code's
 * action; else 4500–4999 stop; else reconnect (with back-off).
 */
export function closeAction(code: number): CloseAction {
  const known = BY_CODE.get(code);
  if (known) return known.action;
  return closeClass(code) === 'do_not_retry' ? 'stop' : 'reconnect';
}

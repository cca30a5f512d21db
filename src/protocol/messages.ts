/**
 * Wire messages between clients and edges (JSON text frames, DESIGN §6).
 *
 * Client → server: subscribe, unsubscribe, resume, refresh (a new token), ping. Server → client: welcome, notifications (no
 * `type` key; told apart by `notification_type`), pong, error, and the extensions `subscribed` /
 * `unsubscribed` acknowledgements. Existing clients ignore messages they do not know.
 */
import { isOffset } from './offsets.js';
import { describeSubscription, parseSubscription, type WireSubscription } from './subscription.js';

export type ClientMessage =
  | { type: 'subscribe'; subscription: WireSubscription }
  | { type: 'unsubscribe'; subscription: WireSubscription }
  | { type: 'ping' }
  | { type: 'resume'; epoch: string; offset: string; subscriptions: WireSubscription[] }
  | { type: 'refresh'; token: string };

/** A refresh token longer than this is refused as invalid (edge/auth/token-verifier.ts MAX_TOKEN_LENGTH). */
export const MAX_REFRESH_TOKEN_LENGTH = 16 * 1024;

/** A resume may name at most this many filters (the per-connection limit applies too). */
export const MAX_RESUME_FILTERS = 1000;

/** Stable error codes sent in `{"type":"error","code":…}`; the connection stays open after each. */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownType: 'unknown_type',
  InvalidFilter: 'invalid_filter',
  /** A subscription's `where` (payload predicate) is malformed or over a limit; the message says which. */
  InvalidWhere: 'invalid_where',
  InvalidResume: 'invalid_resume',
  TooManySubscriptions: 'too_many_subscriptions',
  BinaryNotSupported: 'binary_not_supported',
  /** The token's permissions do not allow this filter (the message names it in `filter`). */
  Forbidden: 'forbidden',
  /** A refresh token was refused (`reason`: missing, invalid or expired); the current token still holds. */
  Unauthorized: 'unauthorized',
  /** A refresh on an edge without authentication (NOTIFIER_AUTH=none). */
  RefreshUnavailable: 'refresh_unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; code: ErrorCode; message: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseClientFrame(data: ArrayBuffer | string): ParseResult {
  let text: string;
  try {
    text = typeof data === 'string' ? data : decoder.decode(data);
  } catch {
    return { ok: false, code: ErrorCode.InvalidJson, message: 'frame is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.InvalidJson, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.InvalidMessage, message: 'message must be a JSON object with a "type"' };
  }
  const msg = value as Record<string, unknown>;
  const type = msg['type'];
  if (typeof type !== 'string') {
    return { ok: false, code: ErrorCode.InvalidMessage, message: 'message needs a string "type"' };
  }
  switch (type) {
    case 'ping':
      return { ok: true, message: { type } };
    case 'subscribe':
    case 'unsubscribe': {
      const parsed = parseSubscription(msg['filter'], msg['where']);
      if (!parsed.ok) return { ok: false, code: parsed.code, message: parsed.message };
      return { ok: true, message: { type, subscription: parsed.subscription } };
    }
    case 'resume':
      return parseResume(msg);
    case 'refresh': {
      const token = msg['token'];
      if (typeof token !== 'string' || token === '' || token.length > MAX_REFRESH_TOKEN_LENGTH) {
        return { ok: false, code: ErrorCode.InvalidMessage, message: 'refresh needs "token": the new token (a JWT string)' };
      }
      return { ok: true, message: { type, token } };
    }
    default:
      return {
        ok: false,
        code: ErrorCode.UnknownType,
        message: `unknown message type "${type.slice(0, 64)}": expected subscribe, unsubscribe, resume, refresh or ping`,
      };
  }
}

/**
 * {"type":"resume","epoch":"…","offset":"…","filters":["…", {"filter":"…","where":{…}}]}: the
 * subscriptions replace the connection's. Each entry is a filter, or a filter with its predicate.
 */
function parseResume(msg: Record<string, unknown>): ParseResult {
  const { epoch, offset, filters } = msg;
  // An empty epoch (a client that never learned one) is accepted: it simply gets `reset`.
  if (typeof epoch !== 'string' || epoch.length > 128) {
    return { ok: false, code: ErrorCode.InvalidResume, message: 'resume needs the "epoch" string from welcome or reset' };
  }
  if (!isOffset(offset)) {
    return { ok: false, code: ErrorCode.InvalidResume, message: 'resume needs "offset": the last offset received (or the one in welcome)' };
  }
  if (!Array.isArray(filters) || filters.length > MAX_RESUME_FILTERS) {
    return { ok: false, code: ErrorCode.InvalidResume, message: `resume needs "filters": an array of at most ${MAX_RESUME_FILTERS} filters` };
  }
  const byId = new Map<string, WireSubscription>();
  for (const entry of filters as unknown[]) {
    const isPair = typeof entry === 'object' && entry !== null && !Array.isArray(entry);
    const pair = isPair ? (entry as Record<string, unknown>) : undefined;
    const parsed = pair === undefined ? parseSubscription(entry, undefined) : parseSubscription(pair['filter'], pair['where']);
    if (!parsed.ok) return { ok: false, code: parsed.code, message: `resume: ${parsed.message}` };
    byId.set(parsed.subscription.id, parsed.subscription);
  }
  return { ok: true, message: { type: 'resume', epoch, offset, subscriptions: [...byId.values()] } };
}

export interface WelcomeExtensions {
  /** Bus epoch: changes whenever the bus lost its history (resume, see README). */
  epoch?: string;
  /** The newest offset at connect time: where a resume starts if no notification arrives. */
  offset?: string;
  /** The token's subject (NOTIFIER_AUTH=jwt). */
  user_id?: string;
  /** When the token expires (ISO 8601): refresh before, or the edge closes with 4004. */
  expires_at?: string;
}

export function welcomeMessage(clientId: string, ext: WelcomeExtensions = {}): string {
  return JSON.stringify({ type: 'welcome', client_id: clientId, message: 'Connected to notifier', ...ext });
}

/** The end of a replay: every missed notification up to `offset` was sent; live ones follow. */
export function resumedMessage(epoch: string, offset: string, replayed: number): string {
  return JSON.stringify({ type: 'resumed', epoch, offset, replayed });
}

/**
 * The history the client asked to resume from is gone (another epoch, or trimmed): it must
 * reload its state from the application. Live notifications follow from `offset` on.
 */
export function resetMessage(reason: 'epoch' | 'expired', epoch: string, offset: string): string {
  return JSON.stringify({ type: 'reset', reason, epoch, offset });
}

export const PONG = JSON.stringify({ type: 'pong' });

export function errorMessage(code: ErrorCode, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}

/** A subscribe refused for a reason of its own (too_many_subscriptions): names the subscription, so a client can drop it. */
export function subscriptionErrorMessage(code: ErrorCode, message: string, id: string): string {
  return JSON.stringify({ type: 'error', code, message, ...describeSubscription(id) });
}

/** A filter the token does not allow: nothing changed, the connection stays open. */
export function forbiddenMessage(filter: string): string {
  return JSON.stringify({ type: 'error', code: ErrorCode.Forbidden, filter, message: `the token does not allow ${filter}` });
}

/** A refresh token was refused; the connection keeps its current token until that expires. */
export function unauthorizedMessage(reason: 'missing' | 'invalid' | 'expired'): string {
  return JSON.stringify({ type: 'error', code: ErrorCode.Unauthorized, reason, message: `refresh refused: the token is ${reason}; the current one holds until it expires` });
}

/** The refresh was accepted: the connection now runs on the new token. */
export function refreshedMessage(expiresAt: string): string {
  return JSON.stringify({ type: 'refreshed', expires_at: expiresAt });
}

/** `id`: a subscription id (subscription.ts); a predicate is echoed in canonical form as `where`. */
export function subscribedMessage(id: string): string {
  return JSON.stringify({ type: 'subscribed', ...describeSubscription(id) });
}

/** `reason` only when the server removed the subscription (a refreshed token no longer allows its filter). */
export function unsubscribedMessage(id: string, reason?: 'forbidden'): string {
  return JSON.stringify({ type: 'unsubscribed', ...describeSubscription(id), ...(reason === undefined ? {} : { reason }) });
}

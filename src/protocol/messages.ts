/**
 * Wire messages between clients and edges (JSON text frames, DESIGN §6).
 *
 * Client → server: subscribe, unsubscribe, ping. Server → client: welcome, notifications (no
 * `type` key; told apart by `notification_type`), pong, error, and the extensions `subscribed` /
 * `unsubscribed` acknowledgements. Existing clients ignore messages they do not know.
 */
import { parseFilter } from './filters.js';
import { isOffset } from './offsets.js';

export type ClientMessage =
  | { type: 'subscribe'; filter: string }
  | { type: 'unsubscribe'; filter: string }
  | { type: 'ping' }
  | { type: 'resume'; epoch: string; offset: string; filters: string[] };

/** A resume may name at most this many filters (the per-connection limit applies too). */
export const MAX_RESUME_FILTERS = 1000;

/** Stable error codes sent in `{"type":"error","code":…}`; the connection stays open after each. */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownType: 'unknown_type',
  InvalidFilter: 'invalid_filter',
  InvalidResume: 'invalid_resume',
  TooManySubscriptions: 'too_many_subscriptions',
  BinaryNotSupported: 'binary_not_supported',
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
      const parsed = parseFilter(msg['filter']);
      if (!parsed.ok) return { ok: false, code: ErrorCode.InvalidFilter, message: parsed.message };
      return { ok: true, message: { type, filter: parsed.filter } };
    }
    case 'resume':
      return parseResume(msg);
    default:
      return {
        ok: false,
        code: ErrorCode.UnknownType,
        message: `unknown message type "${type.slice(0, 64)}": expected subscribe, unsubscribe, resume or ping`,
      };
  }
}

/** {"type":"resume","epoch":"…","offset":"…","filters":["…"]}: the filters replace the connection's. */
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
  const valid: string[] = [];
  for (const f of filters) {
    const parsed = parseFilter(f);
    if (!parsed.ok) return { ok: false, code: ErrorCode.InvalidFilter, message: `resume: ${parsed.message}` };
    valid.push(parsed.filter);
  }
  return { ok: true, message: { type: 'resume', epoch, offset, filters: [...new Set(valid)] } };
}

export interface WelcomeExtensions {
  /** Bus epoch: changes whenever the bus lost its history (resume, see README). */
  epoch?: string;
  /** The newest offset at connect time: where a resume starts if no notification arrives. */
  offset?: string;
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

export function subscribedMessage(filter: string): string {
  return JSON.stringify({ type: 'subscribed', filter });
}

export function unsubscribedMessage(filter: string): string {
  return JSON.stringify({ type: 'unsubscribed', filter });
}

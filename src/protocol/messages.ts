/**
 * Wire messages between clients and edges (JSON text frames, DESIGN §6).
 *
 * Client → server: subscribe, unsubscribe, ping. Server → client: welcome, notifications (no
 * `type` key; told apart by `notification_type`), pong, error, and the extensions `subscribed` /
 * `unsubscribed` acknowledgements. Existing clients ignore messages they do not know.
 */
import { parseFilter } from './filters.js';

export type ClientMessage =
  | { type: 'subscribe'; filter: string }
  | { type: 'unsubscribe'; filter: string }
  | { type: 'ping' };

/** Stable error codes sent in `{"type":"error","code":…}`; the connection stays open after each. */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownType: 'unknown_type',
  InvalidFilter: 'invalid_filter',
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
    default:
      return {
        ok: false,
        code: ErrorCode.UnknownType,
        message: `unknown message type "${type.slice(0, 64)}": expected subscribe, unsubscribe or ping`,
      };
  }
}

export interface WelcomeExtensions {
  /** Bus epoch: changes whenever the bus lost its history (resume, see README). */
  epoch?: string;
  [key: string]: unknown;
}

export function welcomeMessage(clientId: string, ext: WelcomeExtensions = {}): string {
  return JSON.stringify({ type: 'welcome', client_id: clientId, message: 'Connected to notifier', ...ext });
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

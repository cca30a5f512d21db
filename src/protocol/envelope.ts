/**
 * The notification envelope sent to clients (DESIGN §6), built from a PostgreSQL notification.
 *
 * Plain channel: `notification_type` is the channel; `entity_type`, `entity_id`, `user_id` and
 * `timestamp` come from the JSON payload when present; `payload` is the whole payload. A payload
 * that is not JSON is still delivered, as a string. The client frame built from it: frame.ts.
 *
 * Imports: protocol/ only (pure, no I/O).
 */
import { routingKeys } from './filters.js';

export interface Envelope {
  notification_type: string;
  entity_type: string | null;
  entity_id: string | number | null;
  user_id: string | number | null;
  payload: unknown;
  timestamp: string;
}

export interface BuiltEnvelope {
  envelope: Envelope;
  /** Routing keys (see filters.routingKeys); `all` is implicit. */
  keys: string[];
  /** False when the payload text was not valid JSON and is delivered as a string. */
  payloadWasJson: boolean;
  /**
   * The payload's own JSON text, to go into the frame as it is: no re-serialization, and numbers
   * beyond 2^53 reach clients with every digit. Raw newlines (the bus's delimiter) become spaces:
   * in valid JSON a raw newline can only be whitespace between tokens, never inside a string.
   * (Re-serializing instead overflowed the stack on a payload nested 10,000 deep.)
   */
  payloadJson?: string;
}

/** From a plain LISTEN notification: the payload is text that may or may not be JSON. */
export function envelopeFromText(channel: string, text: string, receivedAt: Date): BuiltEnvelope {
  let value: unknown;
  let payloadWasJson = true;
  if (text === '') {
    value = null;
  } else {
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
      payloadWasJson = false;
    }
  }
  const built = { ...envelopeFromValue(channel, value, receivedAt), payloadWasJson };
  if (payloadWasJson && text !== '') built.payloadJson = text.includes('\n') ? text.replaceAll('\n', ' ') : text;
  return built;
}

/** From an already-parsed payload (an outbox row's jsonb). */
export function envelopeFromValue(channel: string, value: unknown, defaultTime: Date): BuiltEnvelope {
  const obj = isPlainObject(value) ? value : undefined;
  const envelope: Envelope = {
    notification_type: channel,
    entity_type: obj ? asText(obj['entity_type']) : null,
    entity_id: obj ? asId(obj['entity_id']) : null,
    user_id: obj ? asId(obj['user_id']) : null,
    payload: value,
    timestamp: (obj && asTimestamp(obj['timestamp'])) ?? defaultTime.toISOString(),
  };
  return { envelope, keys: routingKeys(envelope), payloadWasJson: true };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asText(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function asId(v: unknown): string | number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '') return v;
  return null;
}

function asTimestamp(v: unknown): string | null {
  if (typeof v !== 'string' || v === '') return null;
  return Number.isNaN(Date.parse(v)) ? null : v;
}

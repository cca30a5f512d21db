/**
 * One notification to send through PostgreSQL, as `notifier notify` and the live page's
 * POST /api/notify take it, and its validation: pure, so the edge and the CLI share it.
 */

/** PostgreSQL rejects a NOTIFY payload of 8000 bytes or more. */
export const PLAIN_PAYLOAD_LIMIT = 7999;

export interface SendRequest {
  channel: string;
  /** The payload as JSON text (validated: it must parse). */
  json: string;
  /** Through the outbox (`notifier.publish`) instead of a plain NOTIFY. */
  outbox: boolean;
}

/** Checks a request without touching the database; returns a clear message, or undefined when valid. */
export function validateSendRequest(r: SendRequest): string | undefined {
  if (r.channel === '') return 'channel must not be empty';
  if (Buffer.byteLength(r.channel) > 63) return 'channel is longer than 63 bytes (PostgreSQL truncates channel names)';
  try {
    JSON.parse(r.json);
  } catch (err) {
    return `payload is not valid JSON: ${(err as Error).message}`;
  }
  if (!r.outbox && Buffer.byteLength(r.json) > PLAIN_PAYLOAD_LIMIT) {
    return `payload is ${Buffer.byteLength(r.json)} bytes; a plain NOTIFY carries at most ${PLAIN_PAYLOAD_LIMIT}: send it through the outbox (--outbox)`;
  }
  return undefined;
}

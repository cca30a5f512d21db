/**
 * Sends one notification through PostgreSQL, the way applications do: a plain `pg_notify`, or
 * `notifier.publish` (the outbox). Used by `notifier notify` and the live page's test form.
 */
import type pg from 'pg';

/** PostgreSQL rejects a NOTIFY payload of 8000 bytes or more. */
export const PLAIN_PAYLOAD_LIMIT = 7999;

export class SendError extends Error {}

export interface SendRequest {
  channel: string;
  /** The payload as JSON text (validated here: it must parse). */
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

/** Sends `r` on `db` (a client or a pool). Throws SendError with a message a user can act on. */
export async function sendNotification(db: pg.Pool | pg.ClientBase, r: SendRequest): Promise<void> {
  const invalid = validateSendRequest(r);
  if (invalid) throw new SendError(invalid);
  try {
    if (r.outbox) await db.query('SELECT notifier.publish($1, $2::jsonb)', [r.channel, r.json]);
    else await db.query('SELECT pg_notify($1, $2)', [r.channel, r.json]);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === '3F000' || e.code === '42883') throw new SendError('notifier.publish does not exist in this database: run `notifier migrate` first');
    throw new SendError(`PostgreSQL refused the notification: ${e.message}`);
  }
}

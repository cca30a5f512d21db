/**
 * Sends one notification through PostgreSQL, the way applications do: a plain `pg_notify`, or
 * `notifier.publish` (the outbox). Used by `notifier notify` and the live page's test form, which
 * both validate the request first (validateSendRequest) to answer a bad one their own way.
 */
import type pg from 'pg';
import type { SendRequest } from '../protocol/send-request.js';

export class SendError extends Error {}

/** Sends a valid `r` on `db` (a client or a pool). Throws SendError with a message a user can act on. */
export async function sendNotification(db: pg.Pool | pg.ClientBase, r: SendRequest): Promise<void> {
  try {
    if (r.outbox) await db.query('SELECT notifier.publish($1, $2::jsonb)', [r.channel, r.json]);
    else await db.query('SELECT pg_notify($1, $2)', [r.channel, r.json]);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === '3F000' || e.code === '42883') throw new SendError('notifier.publish does not exist in this database: run `notifier migrate` first');
    throw new SendError(`PostgreSQL refused the notification: ${e.message}`);
  }
}

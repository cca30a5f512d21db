/**
 * Leader election on PostgreSQL (DESIGN §3): a session-level advisory lock taken on the LISTEN
 * connection itself, so the lock dies with the connection.
 *
 * - A standby tries the lock every ~standbyRetryMs with jitter, and at once when the leader it
 *   waits for announces a hand-over (`HANDOVER_CHANNEL`).
 * - The leader re-checks that it still holds the lock (`checkLock`, with a deadline below the
 *   server-side session timeouts), so it can step down before PostgreSQL could hand the lock on.
 * - On shutdown the leader unlocks and wakes the standbys (`releaseLock`): hand-over in milliseconds.
 *
 * Imports: listener/, config/ and observability/ types, util/, pg types.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { DatabaseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { jitter } from '../util/backoff.js';
import { query } from './pg-session.js';
import type { SessionWatch } from './session-watch.js';

/** First key of the two-key advisory lock: "noti". The second is config.lockId. */
export const LOCK_NAMESPACE = 0x6e6f7469;

/**
 * A leader that shuts down unlocks, then NOTIFYs this channel: standbys LISTEN on it and try the
 * lock at once instead of at their next retry, so a SIGTERM hand-over takes milliseconds.
 */
export const HANDOVER_CHANNEL = 'notifier_handover';

export interface StandbyOptions {
  config: DatabaseConfig;
  logger: Logger;
  nodeId: string;
  /** Aborted on shutdown: stop trying. */
  signal: AbortSignal;
  /** The session answered a query (standby readiness). */
  onHealthy: () => void;
}

/** Tries the lock until it is ours (true), or the session is lost or shutdown begins (false). */
export async function waitForLock(client: pg.Client, watch: SessionWatch, opts: StandbyOptions): Promise<boolean> {
  const { config, logger, signal } = opts;
  let announced = false;
  let wake = () => undefined as void;
  const onHandover = (msg: pg.Notification) => {
    if (msg.channel === HANDOVER_CHANNEL) wake();
  };
  client.on('notification', onHandover);
  try {
    await query(client, `LISTEN ${HANDOVER_CHANNEL}`, [], config.leaderQueryTimeoutMs);
    while (!signal.aborted && !watch.lost) {
      const handover = new Promise<void>((resolve) => (wake = resolve));
      const { rows } = await query<{ ok: boolean }>(
        client,
        'SELECT pg_try_advisory_lock($1, $2) AS ok',
        [LOCK_NAMESPACE, config.lockId],
        config.leaderQueryTimeoutMs,
      );
      opts.onHealthy();
      if (rows[0]?.ok) return true;
      if (!announced) {
        announced = true;
        logger.info({ event: 'leader:standby', node: opts.nodeId }, 'another listener is the leader; standing by');
      }
      // An abort rejects the wait; the loop condition then ends the standby.
      const retry = delay(jitter(config.standbyRetryMs), undefined, { signal }).catch(() => undefined);
      await Promise.race([retry, watch.done, handover]);
    }
    return false;
  } finally {
    client.removeListener('notification', onHandover);
  }
}

/**
 * The leader's heartbeat query: whether this session still holds the lock. It also samples the
 * NOTIFY queue usage and the outbox backlog into `metrics`.
 */
export async function checkLock(client: pg.Client, config: DatabaseConfig, metrics: Metrics): Promise<boolean> {
  const { rows } = await query<{ held: boolean; usage: number; backlog: string | null }>(
    client,
    `SELECT EXISTS (SELECT 1 FROM pg_locks
                     WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                       AND classid = $1::oid AND objid = $2::oid AND objsubid = 2) AS held,
            pg_notification_queue_usage() AS usage,
            (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass('notifier.outbox')) AS backlog`,
    [LOCK_NAMESPACE, config.lockId],
    config.leaderQueryTimeoutMs,
  );
  const row = rows[0];
  if (!row) return false;
  metrics.notifyQueueUsage.set(Number(row.usage));
  if (row.backlog !== null) metrics.outboxBacklog.set(Number(row.backlog));
  return row.held;
}

/**
 * Hands over at once instead of waiting for the server to notice the disconnect, and wakes the
 * standbys (the NOTIFY is delivered when this autocommit statement commits, after the unlock).
 * Best effort: the session is destroyed right after, which frees the lock anyway.
 */
export async function releaseLock(client: pg.Client, lockId: number): Promise<void> {
  await query(client, `SELECT pg_advisory_unlock($1, $2), pg_notify('${HANDOVER_CHANNEL}', '')`, [LOCK_NAMESPACE, lockId], 1000).catch(
    () => undefined,
  );
}

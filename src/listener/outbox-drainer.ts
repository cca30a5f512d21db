/**
 * Drains notifier.outbox on its own connection: in one transaction, take and delete the oldest
 * rows (ORDER BY id, FOR UPDATE, one DELETE … RETURNING), publish them, commit. The delete
 * commits only after the bus accepted them; if anything fails the transaction rolls back and the
 * rows are taken again later (the bus dedupes by uid, so a retry never delivers twice).
 *
 * Never a `WHERE id > last_id` cursor: sequence values commit out of order, so a cursor would
 * skip rows that commit late. Never SKIP LOCKED either: only a drainer locks outbox rows, and the
 * one that holds them is a previous leader whose session the server has not ended yet (its link
 * cut after the DELETE). Skipping them, a new leader published the rows after them first, and
 * clients got those notifications out of order (fault matrix, case g). The drain waits for them
 * instead, up to the session's lock_timeout, and takes them again in order.
 *
 * The LISTEN connection stays free for the leader heartbeat while a batch waits on the bus.
 *
 * Imports: listener/, bus/ and observability/ types, protocol/, pg types.
 */
import type pg from 'pg';
import type { PublishItem } from '../bus/bus.js';
import { envelopeFromText } from '../protocol/envelope.js';
import { frameHead } from '../protocol/frame.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { destroySession, openSession, query, type SessionOptions } from './pg-session.js';

export const OUTBOX_WAKEUP_CHANNEL = 'notifier_outbox';
const AGE_SAMPLE_MS = 1000;

interface OutboxRow {
  id: string;
  uid: string;
  channel: string;
  /** jsonb as text: parsed once here, and embedded in the frame as it is. */
  payload: string;
  created_ms: number;
}

export interface DrainerOptions {
  session: Omit<SessionOptions, 'onError' | 'applicationName'>;
  batchSize: number;
  publish: (items: readonly PublishItem[]) => Promise<string[]>;
  logger: Logger;
  metrics: Metrics;
  /** The `channel` label of a channel (outside the configured channels: `other`). */
  channelLabel: (channel: string) => string;
}

export class OutboxDrainer {
  private client: pg.Client | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private ageSampledAt = 0;
  /** created_ms of the oldest row of the batch being published, while one is. */
  private batchOldest: number | undefined;
  private missingTableLogged = false;
  private failures = 0;

  constructor(private readonly opts: DrainerOptions) {}

  /** Requests a drain; coalesces requests that arrive while one runs. Never rejects. */
  request(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    // A batch waiting on the bus holds the oldest rows: their age is known without a query.
    if (this.batchOldest !== undefined) this.opts.metrics.outboxOldestAge.set(Math.max(0, (Date.now() - this.batchOldest) / 1000));
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Drains until the outbox is empty (used before reporting ready); rejects on failure. */
  async drainAll(): Promise<number> {
    await this.sampleOldestAge();
    let total = 0;
    for (;;) {
      const n = await this.drainBatch();
      total += n;
      if (n < this.opts.batchSize) return total;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.metrics.outboxOldestAge.set(0); // a standby's gauge must not keep a stale age
    if (this.client) destroySession(this.client);
    this.client = undefined;
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.drainAll();
      } catch (err) {
        this.report(err as Error);
        return;
      }
    } while (this.again && !this.stopped);
  }

  /**
   * Age of the oldest row, at most once a second, before draining: it keeps growing while the
   * drain fails (Redis down), which is when an alert needs it.
   */
  private async sampleOldestAge(): Promise<void> {
    const now = Date.now();
    if (this.stopped || now - this.ageSampledAt < AGE_SAMPLE_MS) return;
    this.ageSampledAt = now;
    const c = await this.connection();
    try {
      const { rows } = await query<{ age: number | null }>(
        c,
        'SELECT extract(epoch FROM clock_timestamp() - created_at)::float8 AS age FROM notifier.outbox ORDER BY id LIMIT 1',
        [],
        this.opts.session.queryTimeoutMs,
      );
      this.opts.metrics.outboxOldestAge.set(Math.max(0, rows[0]?.age ?? 0));
    } catch (err) {
      // A timed-out query may still be running on the session: start afresh.
      this.discard(c);
      throw err;
    }
  }

  private async drainBatch(): Promise<number> {
    if (this.stopped) return 0;
    const c = await this.connection();
    const t = this.opts.session.queryTimeoutMs;
    await query(c, 'BEGIN', [], t);
    try {
      // Take and delete the batch in one statement; the transaction stays open until the bus
      // accepted it, so a failed publish rolls the rows back for the next drain.
      const { rows } = await query<OutboxRow>(
        c,
        // id = ANY(ARRAY(…)) keeps both halves on the primary key; a CTE joined with USING is
        // planned as a sequential scan and hash join over a table full of dead tuples.
        `DELETE FROM notifier.outbox
          WHERE id = ANY(ARRAY(SELECT id FROM notifier.outbox ORDER BY id LIMIT $1 FOR UPDATE))
          RETURNING id, uid, channel, payload::text AS payload, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms`,
        [this.opts.batchSize],
        t,
      );
      // RETURNING has no order: publish in id order.
      rows.sort(byId);
      if (rows.length > 0) {
        this.batchOldest = Math.min(...rows.map((r) => r.created_ms));
        try {
          await this.opts.publish(rows.map(toItem));
        } finally {
          this.batchOldest = undefined;
        }
      }
      await query(c, 'COMMIT', [], t);
      const perChannel = new Map<string, number>();
      for (const r of rows) {
        const label = this.opts.channelLabel(r.channel);
        perChannel.set(label, (perChannel.get(label) ?? 0) + 1);
      }
      for (const [channel, n] of perChannel) this.opts.metrics.pgReceived.inc({ channel, source: 'outbox' }, n);
      this.failures = 0;
      return rows.length;
    } catch (err) {
      // Whatever state the session is in now (aborted transaction, timed-out query), start afresh.
      this.discard(c);
      throw err;
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = await openSession({
      ...this.opts.session,
      applicationName: 'notifier-outbox',
      onError: (err) => {
        this.opts.logger.warn({ event: 'outbox:connection:error', err: err.message }, 'outbox connection error');
        this.discard(c);
      },
    });
    this.client = c;
    return c;
  }

  /** Ends a session in an unknown state; the next drain opens a fresh one. */
  private discard(c: pg.Client): void {
    if (this.client === c) this.client = undefined;
    destroySession(c);
  }

  /** Logs a drain failure: a missing table once (with the fix), others rate-limited. */
  report(err: Error): void {
    if (this.stopped) return; // a batch cut short by stepping down: its rows stay for the next leader
    this.failures += 1;
    if ((err as { code?: string }).code === '42P01') {
      if (!this.missingTableLogged) {
        this.missingTableLogged = true;
        this.opts.logger.error(
          { event: 'outbox:drain:missing-table' },
          'table notifier.outbox does not exist: run `notifier migrate` (plain channels keep working)',
        );
      }
      return;
    }
    this.missingTableLogged = false;
    // The first failure of an outage, then every 20th: the poll retries every few hundred ms.
    if (this.failures === 1 || this.failures % 20 === 0) {
      this.opts.logger.warn(
        { event: 'outbox:drain:error', err: err.message, failures: this.failures },
        'outbox drain failed; rows stay in the outbox and are retried',
      );
    }
  }
}

/** bigint ids as text: shorter is smaller, equal lengths compare as strings. */
function byId(a: OutboxRow, b: OutboxRow): number {
  return a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function toItem(r: OutboxRow): PublishItem {
  const { envelope, keys, payloadJson } = envelopeFromText(r.channel, r.payload, new Date(r.created_ms));
  return { id: r.uid, head: frameHead(envelope, payloadJson), keys, notificationType: r.channel, sourceTime: r.created_ms };
}

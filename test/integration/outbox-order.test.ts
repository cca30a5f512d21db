/**
 * The outbox drain never overtakes rows another session still holds. Only a drainer locks outbox
 * rows, and the one that does is a previous leader whose link was cut after its DELETE, until
 * PostgreSQL ends that session: skipping its rows (SKIP LOCKED) published the rows after them
 * first, and the fault matrix's case g saw clients get notifications out of order.
 */
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishItem } from '../../src/bus/bus.js';
import { OutboxDrainer } from '../../src/listener/outbox-drainer.js';
import { runMigrations } from '../../src/migrate/run-migrations.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await runMigrations(db.url, pino({ level: 'silent' }));
});
afterAll(async () => {
  await db?.drop();
});

describe('outbox drain order', () => {
  it('waits for rows a dying session still holds, then publishes every row in id order', async () => {
    for (const seq of [1, 2, 3, 4]) await db.sql(`SELECT notifier.publish('ch', $1::jsonb)`, [JSON.stringify({ seq })]);
    const published: number[] = [];
    const drainer = new OutboxDrainer({
      session: { databaseUrl: db.url, sessionTimeoutMs: 10_000, queryTimeoutMs: 1_000 },
      batchSize: 100,
      publish: (items: readonly PublishItem[]) => {
        for (const it of items) published.push((JSON.parse(`${it.head}}`) as { payload: { seq: number } }).payload.seq);
        return Promise.resolve(items.map(() => '0-0'));
      },
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
      channelLabel: (c) => c,
    });

    // A previous leader's transaction: it took the oldest row and has not committed.
    const old = new pg.Client({ connectionString: db.url });
    await old.connect();
    try {
      await old.query('BEGIN');
      await old.query('SELECT id FROM notifier.outbox ORDER BY id LIMIT 1 FOR UPDATE');
      const started = Date.now();
      await expect(drainer.drainAll()).rejects.toThrow(/lock timeout/);
      expect(Date.now() - started).toBeLessThan(1_000); // lock_timeout (half the query timeout), not the client's deadline
      expect(published).toEqual([]);
      await old.query('ROLLBACK');
    } finally {
      await old.end();
    }
    expect(await drainer.drainAll()).toBe(4);
    expect(published).toEqual([1, 2, 3, 4]);
    await drainer.stop();
  });
});

/**
 * Backpressure from a slow bus to PostgreSQL: the leader stops reading its LISTEN socket instead
 * of filling its memory queue and dropping, and delivers everything, in order, once the bus is back.
 * In-process listener on a real PostgreSQL, with an in-memory bus whose publishing a test can hold.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { withDefaultDatabase } from '../../src/config/schema.js';
import { Listener } from '../../src/listener/listener.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { migrate } from '../helpers/cluster.js';
import { createTestDatabase, eventually, type TestDatabase } from '../helpers/services.js';

/** A MemoryBus that holds every publish while `hold` is set. */
class HeldBus extends MemoryBus {
  private release: (() => void) | undefined;
  private gate: Promise<void> | undefined;
  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  let(): void {
    this.release?.();
    this.gate = undefined;
  }
  override async publish(items: readonly PublishItem[]): Promise<string[]> {
    await this.gate;
    return super.publish(items);
  }
}

const value = async (m: Metrics, name: 'listenPauses' | 'plainDropped' | 'outboxOldestAge') => (await m[name].get()).values[0]?.value ?? 0;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('listener backpressure', () => {
  it('pauses reading PostgreSQL while the bus is held, drops nothing, and delivers all in order after', async () => {
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    const config = withDefaultDatabase(loadConfig({
      env: {
        DATABASE_URL: db.url,
        NOTIFIER_CHANNELS: 'bp_test',
        NOTIFIER_PUBLISH_BATCH_SIZE: '10', // pauses at 100 queued
        NOTIFIER_PLAIN_QUEUE_LIMIT: '3000', // a socket read holds up to ~1,500 of these: 6,000 unpaused would overflow
        NOTIFIER_LEADER_QUERY_TIMEOUT_MS: '3000',
      },
    }));
    const bus = new HeldBus();
    const received: number[] = [];
    await bus.subscribe({
      onNotification: (n) => received.push((JSON.parse(`${n.frame.toString()}`) as { payload: { i: number } }).payload.i),
      onHeartbeat: () => undefined,
    });
    const metrics = createMetrics();
    const listener = new Listener({ config, bus, logger: pino({ level: 'silent' }), metrics });
    listener.start();
    cleanup.push(() => listener.stop());
    await eventually(() => listener.isLeader, 15_000, 'leader');

    bus.hold();
    const total = 6000;
    await db.sql(`SELECT pg_notify('bp_test', json_build_object('i', g)::text) FROM generate_series(1, ${total}) g`);
    await eventually(async () => (await value(metrics, 'listenPauses')) >= 1, 10_000, 'a read pause');
    bus.let();

    await eventually(() => received.length >= total, 20_000, `all ${total} published`);
    expect(received).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(await value(metrics, 'plainDropped')).toBe(0);
  });

  it('reports the age of the oldest outbox row while the bus holds the drain, and 0 once drained', async () => {
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    migrate(db.url);
    const config = withDefaultDatabase(loadConfig({ env: { DATABASE_URL: db.url, NOTIFIER_OUTBOX_POLL_MS: '100' } }));
    const bus = new HeldBus();
    const metrics = createMetrics();
    const listener = new Listener({ config, bus, logger: pino({ level: 'silent' }), metrics });
    listener.start();
    cleanup.push(async () => {
      bus.let();
      await listener.stop();
    });
    await eventually(() => listener.isLeader, 15_000, 'leader');

    bus.hold();
    await db.sql(`SELECT notifier.publish('aging', '{"entity_type":"x","entity_id":1}')`);
    // Held: the row stays, and its age grows past a second.
    await eventually(async () => (await value(metrics, 'outboxOldestAge')) >= 1.2, 10_000, 'oldest age ≥ 1.2 s');
    bus.let();
    await eventually(async () => (await db.sql('SELECT count(*)::int AS n FROM notifier.outbox'))[0]?.['n'] === 0, 10_000, 'outbox drained');
    await eventually(async () => (await value(metrics, 'outboxOldestAge')) === 0, 10_000, 'oldest age back to 0');
  });
});

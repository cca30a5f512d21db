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
import { Listener } from '../../src/listener/listener.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
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

const value = async (m: Metrics, name: 'listenPauses' | 'plainDropped') => (await m[name].get()).values[0]?.value ?? 0;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('listener backpressure', () => {
  it('pauses reading PostgreSQL while the bus is held, drops nothing, and delivers all in order after', async () => {
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    const config = loadConfig({
      env: {
        DATABASE_URL: db.url,
        NOTIFIER_CHANNELS: 'bp_test',
        NOTIFIER_PUBLISH_BATCH_SIZE: '10', // pauses at 100 queued
        NOTIFIER_PLAIN_QUEUE_LIMIT: '3000', // a socket read holds up to ~1,500 of these: 6,000 unpaused would overflow
        NOTIFIER_LEADER_QUERY_TIMEOUT_MS: '3000',
      },
    });
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
});

/**
 * Listener.stop() ends every wait at once: the standby's retry wait and the back-off between
 * connection attempts are node:timers/promises timers on the stop signal, which reject on abort
 * (the listener must swallow that, where the old home-made sleep resolved).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { withDefaultDatabase } from '../../src/config/schema.js';
import { Listener } from '../../src/listener/listener.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { migrate } from '../helpers/cluster.js';
import { createTestDatabase, eventually, type TestDatabase } from '../helpers/services.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function listener(databaseUrl: string): Listener {
  const config = withDefaultDatabase(
    loadConfig({ env: { DATABASE_URL: databaseUrl, NOTIFIER_CHANNELS: 'stop_test', NOTIFIER_STANDBY_RETRY_MS: '30000' } }),
  );
  const l = new Listener({ config, bus: new MemoryBus(), logger: pino({ level: 'silent' }), metrics: createMetrics() });
  l.start();
  return l;
}

async function stopsWithin(l: Listener, ms: number): Promise<void> {
  const started = Date.now();
  await expect(l.stop()).resolves.toBeUndefined();
  expect(Date.now() - started).toBeLessThan(ms);
  expect(l.role).toBe('stopped');
}

describe('Listener.stop', () => {
  it('ends a standby waiting for its next lock attempt at once', async () => {
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    migrate(db.url);
    const leader = listener(db.url);
    cleanup.push(() => leader.stop());
    await eventually(() => leader.isLeader, 15_000, 'leader');
    const standby = listener(db.url);
    await eventually(() => standby.role === 'standby' && standby.isReady(), 15_000, 'standby');
    await stopsWithin(standby, 500); // its next attempt is ~30 s away
  });

  it('ends the back-off between failed connection attempts at once', async () => {
    const l = listener('postgresql://postgres@127.0.0.1:1/none');
    // Refused at once, so it spends its time in back-off: by now waits of 0.5–1 s and more.
    await new Promise((r) => setTimeout(r, 1500));
    expect(l.role).toBe('connecting');
    await stopsWithin(l, 200);
  });
});

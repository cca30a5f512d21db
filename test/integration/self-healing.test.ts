/**
 * An edge whose Redis subscription is cut loses nothing: it re-subscribes, reads what was
 * published meanwhile from the history, and delivers everything in order.
 */
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createCluster, metricValue, startPipeline, waitReady, type Cluster } from '../helpers/cluster.js';
import { produce, sequenceReport } from '../helpers/producer.js';
import { eventually, serviceUrls } from '../helpers/services.js';
import { TestClient } from '../helpers/ws-client.js';

let cluster: Cluster | undefined;
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

/** Kills this cluster's edge subscriber connections on the shared Redis (by connection name). */
async function killSubscribers(prefix: string): Promise<number> {
  const admin = new Redis(serviceUrls().redisUrl);
  try {
    const list = (await admin.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((l) => l.includes(` name=notifier-${prefix}-subscriber `))
      .map((l) => /id=(\d+)/.exec(l)?.[1])
      .filter((id): id is string => id !== undefined);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    return ids.length;
  } finally {
    await admin.quit();
  }
}

it('a killed Redis subscription is re-established and backfilled: nothing lost, nothing doubled', async () => {
  cluster = await createCluster();
  const { edge } = await startPipeline(cluster);
  const c = await TestClient.connect(edge.url);
  clients.push(c);
  await c.subscribe('entity_type:heal');

  const count = 300;
  let killed = 0;
  await produce({
    databaseUrl: cluster.db.url,
    count,
    intervalMs: 3,
    entityType: 'heal',
    onSent: async (sent) => {
      if (sent === 100 || sent === 200) {
        // Each kill hits a live subscription: wait until the previous one was re-established.
        const subscribedBefore = killed + 1;
        await eventually(() => edge.proc.logs.filter((l) => l.event === 'edge:bus:subscribed').length >= subscribedBefore, 10_000, 're-subscribed');
        killed += await killSubscribers(cluster!.env['NOTIFIER_REDIS_PREFIX']!);
      }
    },
  });
  expect(killed).toBe(2);
  await c.waitForNotifications(count, 30_000);
  const seqs = c.notifications.map((n) => Number((n['payload'] as { seq: number }).seq));
  const report = sequenceReport(seqs, count);
  console.log('killed subscriptions:', JSON.stringify({ ...report, missing: report.missing.length, duplicated: report.duplicated.length }));
  expect(report).toMatchObject({ missing: [], duplicated: [], inOrder: true });
  expect(await metricValue(edge.http, 'notifier_redis_reconnects_total{connection="subscriber"}')).toBeGreaterThanOrEqual(2);
  expect(edge.proc.logs.filter((l) => l.event === 'edge:backfill:done').length).toBeGreaterThanOrEqual(1);
  await waitReady(edge.http);
});

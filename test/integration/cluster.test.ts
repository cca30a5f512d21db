/**
 * The "done when" scenario: two listeners and two edges on one Redis deliver each notification
 * exactly once to a client on each edge.
 */
import { afterAll, expect, it } from 'vitest';
import { createCluster, waitLeaderSeen, waitReady, type Cluster } from '../helpers/cluster.js';
import { sequenceReport } from '../helpers/producer.js';
import { TestClient } from '../helpers/ws-client.js';

let cluster: Cluster | undefined;
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

it('2 listeners × 2 edges: each notification reaches a client on each edge exactly once', async () => {
  cluster = await createCluster();
  cluster.startListener();
  cluster.startListener();
  const edges = [await cluster.startEdge(), await cluster.startEdge()];
  for (const e of edges) await waitReady(e.http);
  // Plain NOTIFYs are only heard while a leader listens.
  for (const e of edges) await waitLeaderSeen(e.http);
  for (const e of edges) {
    const c = await TestClient.connect(e.url);
    await c.subscribe('entity_type:execution');
    await c.subscribe('all');
    clients.push(c);
  }
  const count = 100;
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      await cluster.db.sql(`SELECT pg_notify('execution_status_changed', $1)`, [JSON.stringify({ entity_type: 'execution', entity_id: i, seq: i })]);
    } else {
      await cluster.db.sql(`SELECT notifier.publish('execution_created', $1::jsonb)`, [JSON.stringify({ entity_type: 'execution', entity_id: i, seq: i })]);
    }
  }
  for (const c of clients) {
    await c.waitForNotifications(count);
    const seqs = c.notifications.map((n) => Number((n['payload'] as { seq: number }).seq));
    const report = sequenceReport([...seqs].sort((a, b) => a - b), count);
    expect(report.missing).toEqual([]);
    expect(report.duplicated).toEqual([]);
  }
  // Both edges saw the same notifications under the same offsets.
  const offsets = clients.map((c) => c.notifications.map((n) => n['offset']));
  expect(offsets[0]).toEqual(offsets[1]);
});

/**
 * Resume on any edge: a client that reconnects presents epoch, last offset and filters, and gets
 * every missed matching notification in order, then live ones — no gap, no duplicate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, waitLeaderSeen, waitReady, type Cluster } from '../helpers/cluster.js';
import { produce, sequenceReport } from '../helpers/producer.js';
import { TestClient } from '../helpers/ws-client.js';

let cluster: Cluster;
const clients: TestClient[] = [];

async function connect(edge: { url: string }): Promise<TestClient> {
  const c = await TestClient.connect(edge.url);
  clients.push(c);
  return c;
}

const seqs = (c: TestClient, type: string) =>
  c.notifications.filter((n) => n['entity_type'] === type).map((n) => Number((n['payload'] as { seq: number }).seq));

beforeAll(async () => {
  cluster = await createCluster({ env: { NOTIFIER_STREAM_RETENTION: '1000' } });
  const listener = cluster.startListener();
  await listener.waitForEvent('leader:listen:success');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

const replayReads = async (edge: { http: string }, source: 'memory' | 'bus') => {
  const text = await (await fetch(`${edge.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`notifier_replay_reads_total{source="${source}"}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
};

// Each variant runs the same resumes on its own pair of edges: replays served from the edges'
// recent copy, from Redis only, and from a copy too small for what was missed (Redis again).
describe.each<{ variant: string; env: Record<string, string>; source: 'memory' | 'bus'; holdsTrimmed: boolean }>([
  { variant: "from the edge's memory", env: {}, source: 'memory', holdsTrimmed: true },
  { variant: 'from Redis (no edge copy)', env: { NOTIFIER_REPLAY_CACHE_BYTES: '0' }, source: 'bus', holdsTrimmed: false },
  { variant: 'from Redis (edge copy too small)', env: { NOTIFIER_REPLAY_CACHE_BYTES: '20000' }, source: 'bus', holdsTrimmed: false },
])('resume, replayed $variant', ({ env, source, holdsTrimmed }) => {
  let edges: { url: string; http: string }[];
  beforeAll(async () => {
    edges = [await cluster.startEdge(env), await cluster.startEdge(env)];
    for (const e of edges) {
      await waitReady(e.http);
      await waitLeaderSeen(e.http);
    }
  });

  it('replays what was missed on another edge while notifications keep coming, then goes live', async () => {
    const first = await connect(edges[0]!);
    expect(first.welcome).toMatchObject({ epoch: expect.any(String), offset: expect.stringMatching(/^\d+-\d+$/) });
    await first.subscribe('entity_type:r1');
    const total = 300;
    let resumed: Promise<unknown> | undefined;
    let second: TestClient | undefined;
    await produce({
      databaseUrl: cluster.db.url,
      count: total,
      intervalMs: 3,
      entityType: 'r1',
      onSent: async (sent) => {
        if (sent === 50) {
          await first.waitForNotifications(20);
          first.close();
        }
        if (sent === 150) {
          // Reconnect to the other edge and resume while the producer keeps writing.
          second = await connect(edges[1]!);
          const epoch = String(first.welcome['epoch']);
          resumed = second.resume(epoch, first.lastOffset, ['entity_type:r1']);
        }
      },
    });
    const outcome = (await resumed) as Record<string, unknown>;
    expect(outcome).toMatchObject({ type: 'resumed', replayed: expect.any(Number) });
    expect(Number(outcome['replayed'])).toBeGreaterThan(0);
    await second!.waitForNotifications(total - first.notifications.length, 20_000);
    const all = [...seqs(first, 'r1'), ...seqs(second!, 'r1')];
    const report = sequenceReport(all, total);
    console.log('resume across edges:', JSON.stringify({ ...report, missing: report.missing.length, duplicated: report.duplicated.length, replayed: outcome['replayed'] }));
    expect(report).toMatchObject({ missing: [], duplicated: [], inOrder: true });
    // `resumed` comes after the replayed notifications and before the live ones.
    const resumedAt = second!.messages.findIndex((m) => m['type'] === 'resumed');
    const replayedCount = Number(outcome['replayed']);
    expect(second!.messages.slice(1, resumedAt).filter((m) => !('type' in m))).toHaveLength(replayedCount);
    expect(await replayReads(edges[1]!, source)).toBeGreaterThan(0);
  });

  it('sends reset for another epoch, then live notifications', async () => {
    const c = await connect(edges[0]!);
    const outcome = await c.resume('some-other-epoch', '1-0', ['entity_type:r2']);
    expect(outcome).toMatchObject({ type: 'reset', reason: 'epoch', epoch: c.welcome['epoch'] });
    await cluster.db.sql(`SELECT notifier.publish('x', '{"entity_type":"r2","entity_id":1,"seq":0}')`);
    await c.waitForNotifications(1);
    expect(seqs(c, 'r2')).toEqual([0]);
  });

  it('sends reset when the history was trimmed past the offset (unless the edge still holds it)', async () => {
    const c = await connect(edges[1]!);
    await c.subscribe('entity_type:r3');
    await cluster.db.sql(`SELECT notifier.publish('x', '{"entity_type":"r3","entity_id":1,"seq":0}')`);
    await c.waitForNotifications(1);
    const offset = c.lastOffset;
    c.close();
    // More than the retention (MAXLEN ~ 1000) after it.
    await cluster.db.sql(`SELECT notifier.publish('x', json_build_object('entity_type', 'filler', 'entity_id', i)::jsonb) FROM generate_series(1, 2500) i`);
    await cluster.db.sql(`SELECT notifier.publish('x', '{"entity_type":"r3","entity_id":2,"seq":1}')`);
    const watcher = await connect(edges[1]!);
    await watcher.subscribe('entity_type:r3');
    await cluster.db.sql(`SELECT notifier.publish('x', '{"entity_type":"r3","entity_id":3,"seq":2}')`);
    await watcher.waitForNotifications(1);
    const again = await connect(edges[0]!);
    const outcome = await again.resume(String(c.welcome['epoch']), offset, ['entity_type:r3']);
    await cluster.db.sql(`SELECT notifier.publish('x', '{"entity_type":"r3","entity_id":4,"seq":3}')`);
    if (holdsTrimmed) {
      // Redis trimmed it, but this edge's own copy (32 MB by default) still reaches back.
      expect(outcome).toMatchObject({ type: 'resumed', replayed: 2 });
      await again.waitForNotifications(3);
      expect(seqs(again, 'r3')).toEqual([1, 2, 3]);
    } else {
      expect(outcome).toMatchObject({ type: 'reset', reason: 'expired' });
      await again.waitForNotifications(1);
      expect(seqs(again, 'r3')).toEqual([3]);
    }
  });

  it('rejects resume after subscribe, and resume with bad fields, keeping the connection', async () => {
    const c = await connect(edges[0]!);
    await c.subscribe('all');
    expect(await c.resume(String(c.welcome['epoch']), c.lastOffset, ['all'])).toMatchObject({ type: 'error', code: 'invalid_resume' });
    const u = await connect(edges[0]!);
    await u.subscribe('all');
    await u.unsubscribe('all');
    expect(await u.resume(String(u.welcome['epoch']), u.lastOffset, ['all'])).toMatchObject({ type: 'error', code: 'invalid_resume' });
    const twice = await connect(edges[0]!);
    expect(await twice.resume(String(twice.welcome['epoch']), twice.lastOffset, [])).toMatchObject({ type: 'resumed' });
    expect(await twice.resume(String(twice.welcome['epoch']), twice.lastOffset, ['all'])).toMatchObject({ type: 'error', code: 'invalid_resume' });
    const d = await connect(edges[0]!);
    expect(await d.resume('e', 'not-an-offset', [])).toMatchObject({ type: 'error', code: 'invalid_resume' });
    expect(await d.resume('e', '1-0', ['nope'])).toMatchObject({ type: 'error', code: 'invalid_filter' });
    d.send({ type: 'ping' });
    await d.next((m) => m['type'] === 'pong');
  });
});

/**
 * Payload predicates on a real edge (issue 15 §4): `where` narrows live delivery, a connection
 * gets a notification once however many of its (filter, where) pairs match, a resume's replay on
 * another edge applies the same predicates, and a malformed `where` gets invalid_where.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, waitLeaderSeen, waitReady, type Cluster } from '../helpers/cluster.js';
import { produce } from '../helpers/producer.js';
import { TestClient, type Message } from '../helpers/ws-client.js';

let cluster: Cluster;
let edges: { url: string; http: string }[];
const clients: TestClient[] = [];

async function connect(edge: { url: string }): Promise<TestClient> {
  const c = await TestClient.connect(edge.url);
  clients.push(c);
  return c;
}

async function subscribe(c: TestClient, filter: string, where: unknown): Promise<Message> {
  c.send({ type: 'subscribe', filter, where });
  return c.next((m) => m['type'] === 'subscribed' || m['type'] === 'error');
}

const seqs = (c: TestClient) => c.notifications.filter((n) => n['entity_type'] === 'p1').map((n) => (n['payload'] as { seq: number }).seq);

beforeAll(async () => {
  cluster = await createCluster();
  const listener = cluster.startListener();
  await listener.waitForEvent('leader:listen:success');
  edges = [await cluster.startEdge(), await cluster.startEdge()];
  for (const e of edges) {
    await waitReady(e.http);
    await waitLeaderSeen(e.http);
  }
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

describe('payload predicates', () => {
  it('narrow live delivery, once per connection with overlaps; replay on another edge applies them too', async () => {
    const overlapping = await connect(edges[0]!);
    const ack = await subscribe(overlapping, 'entity_type:p1', { seq: { lt: 10 } });
    expect(ack).toEqual({ type: 'subscribed', filter: 'entity_type:p1', where: { seq: { lt: 10 } } });
    await subscribe(overlapping, 'entity_type:p1', { 'payload.seq': { gte: 5, lt: 15 } });
    // Two ways of writing one predicate are one subscription.
    await subscribe(overlapping, 'entity_type:p1', { 'payload.seq': { lt: 15, gte: 5 } });
    const picky = await connect(edges[1]!);
    await subscribe(picky, 'all', { seq: { in: [3, 7, 11, 99] }, entity_type: { eq: 'p1' } });
    const before = await connect(edges[0]!);
    const epoch = String(before.welcome['epoch']);
    const offset = String(before.welcome['offset']);

    await produce({ databaseUrl: cluster.db.url, count: 30, intervalMs: 0, entityType: 'p1' });
    await overlapping.waitForNotifications(15);
    await picky.waitForNotifications(3);

    // Resumed on the other edge from before the first notification, with a predicate.
    const late = await connect(edges[1]!);
    late.send({ type: 'resume', epoch, offset, filters: [{ filter: 'entity_type:p1', where: { seq: { gte: 25 } } }, { filter: 'entity:p1:2' }] });
    const outcome = await late.next((m) => m['type'] === 'resumed' || m['type'] === 'reset' || m['type'] === 'error');
    expect(outcome).toMatchObject({ type: 'resumed', replayed: 6 });

    // A marker published last, received by each: nothing else is still on its way to them.
    for (const c of [overlapping, picky, late]) await c.subscribe('entity_type:marker');
    await produce({ databaseUrl: cluster.db.url, count: 1, intervalMs: 0, entityType: 'marker' });
    await Promise.all([overlapping, picky, late].map((c) => c.first((m) => m['entity_type'] === 'marker')));

    expect(seqs(overlapping)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(seqs(picky)).toEqual([3, 7, 11]);
    expect(seqs(late)).toEqual([2, 25, 26, 27, 28, 29]);
  });

  it('unsubscribe names the pair; a bare filter stays', async () => {
    const c = await connect(edges[0]!);
    await subscribe(c, 'entity_type:p2', { status: { eq: 'failed' } });
    await c.subscribe('entity_type:p2');
    c.send({ type: 'unsubscribe', filter: 'entity_type:p2', where: { status: { eq: 'failed' } } });
    const m = await c.next((x) => x['type'] === 'unsubscribed');
    expect(m).toEqual({ type: 'unsubscribed', filter: 'entity_type:p2', where: { status: { eq: 'failed' } } });
    const stats = (await (await fetch(`${edges[0]!.http}/stats`)).json()) as Record<string, unknown>;
    expect(stats['total_subscriptions']).toBeGreaterThanOrEqual(1);
  });

  it.each([
    [{ status: 'failed' }, 'must be an object of operators'],
    [{ status: { like: 'f%' } }, 'unknown operator "like"'],
    [{ 'a.b.c.d': { eq: 1 } }, 'depth limit'],
    [Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, { eq: i }])), 'at most 16 leaves'],
  ])('refuses where %j with invalid_where, and the connection stays usable', async (where, text) => {
    const c = await connect(edges[1]!);
    const m = await subscribe(c, 'all', where);
    expect(m).toMatchObject({ type: 'error', code: 'invalid_where', message: expect.stringContaining(text) });
    await c.subscribe('entity_type:p3');
  });
});

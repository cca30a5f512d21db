/**
 * The whole pipeline with real processes: PostgreSQL → `notifier listener` → Redis →
 * `notifier edge` → WebSocket clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, metricValue, startPipeline, type Cluster } from '../helpers/cluster.js';
import type { NotifierProcess } from '../helpers/processes.js';
import { TestClient } from '../helpers/ws-client.js';

let cluster: Cluster;
let edge: { url: string; http: string };
let listenerHttp: string;
let edgeProc: NotifierProcess;
let listenerProc: NotifierProcess;
const clients: TestClient[] = [];

async function client(...filters: string[]): Promise<TestClient> {
  const c = await TestClient.connect(edge.url);
  clients.push(c);
  for (const f of filters) await c.subscribe(f);
  return c;
}

/** Sends a notification that `c` does match, and waits for it: everything sent before it has arrived. */
async function barrier(c: TestClient, filterEntityType: string): Promise<void> {
  const marker = `barrier-${Math.random()}`;
  await cluster.db.sql(`SELECT pg_notify('event_created', $1)`, [JSON.stringify({ entity_type: filterEntityType, entity_id: marker })]);
  await c.first((m) => m['entity_id'] === marker);
}

beforeAll(async () => {
  cluster = await createCluster();
  const started = await startPipeline(cluster);
  edge = started.edge;
  edgeProc = started.edge.proc;
  listenerProc = started.listener;
  listenerHttp = `http://127.0.0.1:${await started.listener.port()}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

describe('pipeline', () => {
  it('delivers a plain NOTIFY with every envelope field right', async () => {
    const c = await client('entity_type:execution');
    expect(c.welcome).toMatchObject({ type: 'welcome', message: 'Connected to notifier' });
    expect(typeof c.welcome['client_id']).toBe('string');
    expect(typeof c.welcome['epoch']).toBe('string');

    await cluster.db.sql(
      `NOTIFY execution_status_changed, '{"entity_type":"execution","entity_id":123,"user_id":456,"status":"succeeded","timestamp":"2024-01-15T10:30:00Z"}'`,
    );
    const n = await c.first((m) => m['notification_type'] === 'execution_status_changed');
    expect(n).toEqual({
      notification_type: 'execution_status_changed',
      entity_type: 'execution',
      entity_id: 123,
      user_id: 456,
      payload: { entity_type: 'execution', entity_id: 123, user_id: 456, status: 'succeeded', timestamp: '2024-01-15T10:30:00Z' },
      timestamp: '2024-01-15T10:30:00Z',
      offset: expect.stringMatching(/^\d+-\d+$/),
    });
    expect(n).not.toHaveProperty('type');
  });

  it('defaults the timestamp to receipt time and delivers non-JSON payloads as strings', async () => {
    const c = await client('notification_type:inquiry_created');
    const before = Date.now();
    await cluster.db.sql(`NOTIFY inquiry_created, '{"entity_type":"inquiry","entity_id":"abc"}'`);
    await cluster.db.sql(`NOTIFY inquiry_created, 'not json at all'`);
    const [json, text] = await c.waitForNotifications(2);
    expect(json).toMatchObject({ entity_type: 'inquiry', entity_id: 'abc', user_id: null });
    expect(Date.parse(String(json?.['timestamp']))).toBeGreaterThanOrEqual(before - 1000);
    expect(text).toMatchObject({ notification_type: 'inquiry_created', entity_type: null, entity_id: null, payload: 'not json at all' });
  });

  it('hostile payloads: the listener keeps going and delivers every one, the valid ones around them in order (issue 14 §8)', async () => {
    const c = await client('notification_type:enforcement_created');
    const nonJsonBefore = (await metricValue(listenerHttp, 'notifier_pg_payload_not_json_total')) ?? 0;
    const logsBefore = listenerProc.logs.length;
    const hostile = [
      '{"entity_type": "x",', // invalid JSON
      JSON.stringify({ pad: 'x'.repeat(7_989) }), // 7,999 bytes: the most a NOTIFY payload may hold
      `${'['.repeat(1_950)}\n${'['.repeat(1_950)}${']'.repeat(3_900)}`, // nested 3,900 deep (NOTIFY's limit; 10,000 in the unit test), a raw newline
      '{"s":"\\ud800","t":"a\\u0000b"}', // a lone surrogate and NUL, escaped
      '{"entity_id": 123456789012345678901234567890}', // an integer past 2^53
      '{"__proto__": {"polluted": true}}',
    ];
    const sent: string[] = [];
    for (const [i, payload] of hostile.entries()) {
      sent.push(JSON.stringify({ seq: i * 2 }));
      sent.push(payload);
    }
    sent.push(JSON.stringify({ seq: 99 }));
    for (const p of sent) await cluster.db.sql(`SELECT pg_notify('enforcement_created', $1)`, [p]);
    const got = await c.waitForNotifications(sent.length, 15_000);
    expect(got.filter((n) => typeof (n['payload'] as { seq?: unknown })?.seq === 'number').map((n) => (n['payload'] as { seq: number }).seq)).toEqual([0, 2, 4, 6, 8, 10, 99]);
    expect(got[1]?.['payload']).toBe('{"entity_type": "x",');
    expect(JSON.stringify(got[3]?.['payload'])).toHaveLength(7_999);
    expect(JSON.stringify(got[5]?.['payload'])).toHaveLength(7_800);
    expect((await metricValue(listenerHttp, 'notifier_pg_payload_not_json_total')) ?? 0).toBe(nonJsonBefore + 1);
    // The invalid one is logged (trimmed: this one is short enough to appear whole), once.
    expect(listenerProc.eventsSince('listener:payload:not-json', logsBefore).map((l) => l['payload'])).toEqual(['{"entity_type": "x",']);
    expect((await fetch(`${listenerHttp}/ready`)).status).toBe(200);
  });

  it('publishes a table row through notifier.row_notify for INSERT, UPDATE and DELETE', async () => {
    await cluster.db.sql(`CREATE TABLE job (id bigserial PRIMARY KEY, user_id int, status text)`);
    await cluster.db.sql(
      `CREATE TRIGGER job_notify AFTER INSERT OR UPDATE OR DELETE ON job FOR EACH ROW EXECUTE FUNCTION notifier.row_notify('job')`,
    );
    const c = await client('entity_type:job');
    const userClient = await client('user:77');
    await cluster.db.sql(`INSERT INTO job (user_id, status) VALUES (77, 'queued')`);
    await cluster.db.sql(`UPDATE job SET status = 'running' WHERE id = 1`);
    await cluster.db.sql(`DELETE FROM job WHERE id = 1`);
    const got = await c.waitForNotifications(3);
    expect(got.map((n) => n['notification_type'])).toEqual(['job_created', 'job_updated', 'job_deleted']);
    expect(got[1]).toMatchObject({
      entity_type: 'job',
      entity_id: 1,
      user_id: 77,
      payload: { entity_type: 'job', entity_id: 1, user_id: 77, operation: 'UPDATE', row: { id: 1, user_id: 77, status: 'running' } },
    });
    expect(got[2]?.['payload']).toMatchObject({ operation: 'DELETE', row: { status: 'running' } });
    await userClient.waitForNotifications(3);
    // Offsets increase in publication order.
    const offsets = got.map((n) => String(n['offset']));
    expect([...offsets].sort(compareOffsets)).toEqual(offsets);
  });

  it('carries an outbox payload over 8,000 bytes (beyond NOTIFY’s limit)', async () => {
    const c = await client('entity:report:9');
    const big = 'x'.repeat(20_000);
    const [row] = await cluster.db.sql<{ id: string }>(`SELECT notifier.publish('report_ready', $1::jsonb) AS id`, [
      JSON.stringify({ entity_type: 'report', entity_id: 9, body: big }),
    ]);
    expect(Number(row?.id)).toBeGreaterThan(0);
    const n = await c.first((m) => m['notification_type'] === 'report_ready');
    expect((n['payload'] as { body: string }).body).toHaveLength(20_000);
    // The drain deletes the row in the transaction that published it, which commits just after.
    await expect
      .poll(async () => Number((await cluster.db.sql<{ n: string }>(`SELECT count(*) AS n FROM notifier.outbox`))[0]?.n), { timeout: 10_000 })
      .toBe(0);
  });

  it('delivers once to a connection whose filters overlap', async () => {
    const c = await client('all', 'entity_type:order', 'entity:order:5', 'user:8', 'notification_type:order_paid');
    const other = await client('entity:order:5');
    await cluster.db.sql(`SELECT notifier.publish('order_paid', '{"entity_type":"order","entity_id":5,"user_id":8}')`);
    await other.first((m) => m['notification_type'] === 'order_paid');
    await barrier(c, 'order');
    expect(c.notifications.filter((m) => m['notification_type'] === 'order_paid')).toHaveLength(1);
    expect(other.notifications.filter((m) => m['notification_type'] === 'order_paid')).toHaveLength(1);
  });

  it('sends nothing to a client whose filters do not match', async () => {
    const silent = await client('entity_type:invoice', 'user:999');
    await cluster.db.sql(`NOTIFY execution_created, '{"entity_type":"execution","entity_id":1,"user_id":1}'`);
    await cluster.db.sql(`SELECT notifier.publish('execution_created', '{"entity_type":"execution","entity_id":2}')`);
    await barrier(silent, 'invoice');
    expect(silent.notifications.map((m) => m['entity_type'])).toEqual(['invoice']);
  });

  it('stops delivering after unsubscribe', async () => {
    const c = await client('entity_type:ticket', 'entity_type:marker');
    await cluster.db.sql(`NOTIFY event_created, '{"entity_type":"ticket","entity_id":1}'`);
    await c.first((m) => m['entity_type'] === 'ticket');
    await c.unsubscribe('entity_type:ticket');
    await cluster.db.sql(`NOTIFY event_created, '{"entity_type":"ticket","entity_id":2}'`);
    await barrier(c, 'marker');
    expect(c.notifications.filter((m) => m['entity_type'] === 'ticket').map((m) => m['entity_id'])).toEqual([1]);
  });

  it('publishes a burst in batches, not one bus round trip per notification', async () => {
    const c = await client('entity_type:burst');
    const batchesBefore = (await metricValue(listenerHttp, 'notifier_bus_publish_batch_size_count')) ?? 0;
    // 500 NOTIFYs committed at once reach the listener together.
    await cluster.db.sql(
      `SELECT pg_notify('event_created', json_build_object('entity_type', 'burst', 'entity_id', i)::text) FROM generate_series(1, 500) i`,
    );
    const got = await c.waitForNotifications(500);
    expect(got.map((n) => n['entity_id'])).toEqual([...Array(500).keys()].map((i) => i + 1));
    const batches = ((await metricValue(listenerHttp, 'notifier_bus_publish_batch_size_count')) ?? 0) - batchesBefore;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThanOrEqual(50);
  });

  it('answers bad frames with error messages and keeps the connection open', async () => {
    const c = await client();
    const cases: [unknown, string][] = [
      ['not json', 'invalid_json'],
      ['[1,2]', 'invalid_message'],
      [{ filter: 'all' }, 'invalid_message'],
      [{ type: 'shout' }, 'unknown_type'],
      [{ type: 'subscribe' }, 'invalid_filter'],
      [{ type: 'subscribe', filter: 'entity:execution' }, 'invalid_filter'],
      [{ type: 'subscribe', filter: 'colour:blue' }, 'invalid_filter'],
      [{ type: 'unsubscribe', filter: 42 }, 'invalid_filter'],
    ];
    for (const [frame, code] of cases) {
      c.send(frame);
      const err = await c.next((m) => m['type'] === 'error');
      expect(err).toMatchObject({ type: 'error', code });
      expect(String(err['message']).length).toBeGreaterThan(5);
    }
    c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await c.next((m) => m['type'] === 'error')).toMatchObject({ code: 'binary_not_supported' });
    c.send({ type: 'ping' });
    await c.next((m) => m['type'] === 'pong');
    expect(c.closeCode).toBeUndefined();
  });

  it('folds channels outside NOTIFIER_CHANNELS into "other" in metric labels, and labels latency by type', async () => {
    const c = await client('entity_type:fold');
    await cluster.db.sql(`SELECT notifier.publish('per_user_4711', '{"entity_type":"fold","entity_id":1}')`);
    await cluster.db.sql(`NOTIFY execution_created, '{"entity_type":"fold","entity_id":2}'`);
    await c.waitForNotifications(2);
    const listenerMetrics = await (await fetch(`${listenerHttp}/metrics`)).text();
    const edgeMetrics = await (await fetch(`${edge.http}/metrics`)).text();
    for (const text of [listenerMetrics, edgeMetrics]) expect(text).not.toContain('per_user_4711');
    expect(listenerMetrics).toMatch(/notifier_pg_notifications_received_total\{channel="other",source="outbox"\} [1-9]/);
    expect(listenerMetrics).toMatch(/notifier_pg_notifications_received_total\{channel="execution_created",source="notify"\} [1-9]/);
    expect(edgeMetrics).toMatch(/notifier_delivered_total\{notification_type="other"\} [1-9]/);
    expect(edgeMetrics).toMatch(/notifier_delivery_latency_seconds_count\{notification_type="execution_created"\} [1-9]/);
    expect(edgeMetrics).toMatch(/notifier_delivery_latency_seconds_count\{notification_type="other"\} [1-9]/);
  });

  it('serves /health, /ready, /stats and /metrics on the edge and the listener', async () => {
    expect(await (await fetch(`${edge.http}/health`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${edge.http}/ready`)).status).toBe(200);
    const c = await client('all', 'user:1');
    const stats = (await (await fetch(`${edge.http}/stats`)).json()) as Record<string, unknown>;
    expect(stats['connected_clients']).toBeGreaterThanOrEqual(1);
    expect(stats['total_subscriptions']).toBeGreaterThanOrEqual(2);
    expect(typeof stats['leader_heartbeat_age_ms']).toBe('number');
    expect(stats['last_offset']).toMatch(/^\d+-\d+$/);
    expect(stats['uptime_seconds']).toEqual(expect.any(Number));
    // No edge verifies tokens yet (issue 14): /stats and the start-up log say so.
    expect(stats['auth']).toBe('none');
    expect((await edgeProc.waitForEvent('edge:auth:off'))['msg']).toContain('any client that reaches this port may subscribe to any filter');
    c.close();
    const metrics = await (await fetch(`${edge.http}/metrics`)).text();
    for (const name of ['notifier_connections', 'notifier_delivered_total', 'notifier_delivery_latency_seconds_bucket', 'notifier_subscriptions']) {
      expect(metrics).toContain(name);
    }
    expect(await (await fetch(`${listenerHttp}/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${listenerHttp}/ready`)).json()).toMatchObject({ status: 'ready', role: 'leader' });
    expect(await metricValue(listenerHttp, 'notifier_leader')).toBe(1);
    expect(await metricValue(listenerHttp, 'notifier_bus_published_total')).toBeGreaterThan(0);
  });
});

function compareOffsets(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}

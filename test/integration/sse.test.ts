/**
 * Server-Sent Events (GET /sse) on a real edge: in-process on an in-memory bus for the stream's
 * shape, filters, resume, refusals, slow consumers, drain, heartbeat and tokens; and as processes
 * on the real PostgreSQL and Redis for a resume on another edge.
 */
import { connect } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createEdgeAuthenticator } from '../../src/edge/auth/edge-authenticator.js';
import { Edge } from '../../src/edge/edge.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { createCluster, waitLeaderSeen, waitReady, type Cluster } from '../helpers/cluster.js';
import { SseReader } from '../helpers/sse-client.js';
import { TestClient } from '../helpers/ws-client.js';
import { eventually } from '../helpers/services.js';
import { JWT_ENV, mintToken } from '../helpers/tokens.js';

interface Running {
  edge: Edge;
  bus: MemoryBus;
  metrics: Metrics;
  http: string;
  readers: SseReader[];
  open(query: string, headers?: Record<string, string>): Promise<SseReader>;
}

let running: Running[] = [];
afterEach(async () => {
  for (const r of running) {
    r.readers.forEach((s) => s.close());
    await r.edge.stop();
  }
  running = [];
});

async function startEdge(opts: { env?: Record<string, string>; bus?: MemoryBus; heartbeatMs?: number; jwt?: boolean } = {}): Promise<Running> {
  const env = { PORT: '0', HOST: '127.0.0.1', NOTIFIER_DRAIN_SECONDS: '0', ...(opts.jwt ? JWT_ENV : {}), ...opts.env };
  const config = loadConfig({ env });
  const logger = pino({ level: 'silent' });
  const metrics = createMetrics();
  const bus = opts.bus ?? new MemoryBus();
  const authenticator = opts.jwt ? await createEdgeAuthenticator(config, logger) : undefined;
  const edge = new Edge({ config, bus, logger, metrics, authenticator, ...(opts.heartbeatMs !== undefined ? { sseHeartbeatMs: opts.heartbeatMs } : {}) });
  await edge.start();
  const http = `http://127.0.0.1:${edge.port}`;
  const r: Running = {
    edge,
    bus,
    metrics,
    http,
    readers: [],
    async open(query, headers = {}) {
      const s = await SseReader.open(`${http}/sse?${query}`, headers);
      r.readers.push(s);
      return s;
    },
  };
  running.push(r);
  return r;
}

function item(i: number, fields: Record<string, unknown> = {}, type = 'thing'): PublishItem {
  const { envelope, keys } = envelopeFromValue('thing_changed', { entity_type: type, entity_id: i, ...fields }, new Date());
  return { id: `id-${i}-${Math.random()}`, head: frameHead(envelope), keys, notificationType: 'thing_changed', sourceTime: Date.now() };
}

const ids = (s: SseReader) => s.notifications.map((n) => n['entity_id']);
const stats = async (http: string) => (await (await fetch(`${http}/stats`)).json()) as Record<string, unknown>;
const counter = async (m: Metrics, name: keyof Metrics) => ((await (m[name] as { get(): Promise<{ values: { value: number }[] }> }).get()).values[0]?.value ?? 0);

describe('the stream', () => {
  it('answers text/event-stream with no-cache and no proxy buffering, retry, then welcome with an event id', async () => {
    const r = await startEdge();
    const s = await r.open('filter=all');
    expect(s.status).toBe(200);
    expect(s.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(s.res.headers['cache-control']).toBe('no-cache');
    expect(s.res.headers['x-accel-buffering']).toBe('no');
    const welcome = await s.waitForEvent('welcome');
    expect(s.retry).toBe(2000);
    expect(welcome).toMatchObject({ type: 'welcome', client_id: expect.any(String), epoch: r.bus.epoch, offset: expect.stringMatching(/^\d+-\d+$/) });
    expect(s.lastEventId).toBe(`${r.bus.epoch}/${String(welcome['offset'])}`);
    expect(await stats(r.http)).toMatchObject({ connected_clients: 1, connections: { ws: 0, sse: 1 }, total_subscriptions: 1 });
    const metrics = await r.metrics.connections.get();
    expect(metrics.values).toContainEqual(expect.objectContaining({ labels: { transport: 'sse' }, value: 1 }));
  });

  it('delivers the matching notifications live, each with its event id, filtered by the filters and where', async () => {
    const r = await startEdge();
    const typed = await r.open('filter=entity_type:thing');
    const narrowed = await r.open(`filter=entity_type:thing&filter=entity_type:other&where=${encodeURIComponent('{"colour":{"eq":"red"}}')}`);
    await typed.waitForEvent('welcome');
    await narrowed.waitForEvent('welcome');
    await r.bus.publish([item(0, { colour: 'red' }), item(1, { colour: 'blue' }), item(2, { colour: 'red' }, 'other'), item(3, { colour: 'red' }, 'skipped')]);
    await typed.waitForNotifications(2);
    await narrowed.waitForNotifications(2);
    expect(ids(typed)).toEqual([0, 1]);
    expect(ids(narrowed)).toEqual([0, 2]);
    const last = typed.events.at(-1)!;
    expect(last.id).toBe(`${r.bus.epoch}/${String(typed.notifications[1]!['offset'])}`);
    // The data is the WebSocket's envelope as is.
    expect(typed.notifications[0]).toMatchObject({ offset: expect.any(String), entity_type: 'thing', notification_type: 'thing_changed' });
  });

  it('delivers a notification once when several filters of the stream match it, in order', async () => {
    const r = await startEdge();
    const s = await r.open('filter=entity_type:thing&filter=user:7&filter=all&filter=entity_type:thing');
    await s.waitForEvent('welcome');
    expect((await stats(r.http))['total_subscriptions']).toBe(3);
    await r.bus.publish(Array.from({ length: 30 }, (_, i) => item(i, { user_id: i % 2 === 0 ? 7 : 8 }, i % 3 === 0 ? 'other' : 'thing')));
    await s.waitForNotifications(30);
    await r.bus.publish([item(99)]);
    await s.waitForNotifications(31);
    expect(ids(s)).toEqual([...Array(30).keys(), 99]);
  });

  it('sends a heartbeat comment on every stream each interval', async () => {
    const r = await startEdge({ heartbeatMs: 50 });
    const a = await r.open('filter=all');
    const b = await r.open('filter=user:1');
    await a.until(() => a.comments.filter((c) => c === 'hb').length >= 3, 5000, 'three heartbeats');
    await b.until(() => b.comments.includes('hb'), 5000, 'a heartbeat');
  });
});

describe('resume with Last-Event-ID', () => {
  it('replays every missed matching notification in order, then resumed, then live', async () => {
    const r = await startEdge();
    const first = await r.open('filter=entity_type:thing');
    await first.waitForEvent('welcome');
    await r.bus.publish([0, 1, 2].map((i) => item(i)));
    await first.waitForNotifications(3);
    const lastId = first.lastEventId;
    first.close();
    await eventually(async () => (await stats(r.http))['connected_clients'] === 0, 5000, 'the stream to be gone');
    await r.bus.publish([3, 4, 5, 6].map((i) => item(i, {}, i === 5 ? 'other' : 'thing')));
    const second = await r.open('filter=entity_type:thing', { 'last-event-id': lastId });
    const resumed = await second.waitForEvent('resumed');
    expect(resumed).toMatchObject({ type: 'resumed', epoch: r.bus.epoch, replayed: 3 });
    expect(ids(second)).toEqual([3, 4, 6]);
    // The welcome of a resuming stream names where it resumes from, and `resumed` where it got to.
    const types = second.events.map((e) => e.event);
    expect(types).toEqual(['welcome', 'message', 'message', 'message', 'resumed']);
    expect(second.events[0]!.id).toBe(lastId);
    expect(second.events.at(-1)!.id).toBe(`${r.bus.epoch}/${String(resumed['offset'])}`);
    await r.bus.publish([item(7)]);
    await second.waitForNotifications(4);
    expect(ids(second)).toEqual([3, 4, 6, 7]);
  });

  it('replays more than the send buffer holds, waiting for it to drain, with nothing lost', async () => {
    const r = await startEdge({ env: { NOTIFIER_MAX_BACKPRESSURE_BYTES: '65536' } });
    const first = await r.open('filter=all');
    await first.waitForEvent('welcome');
    const from = first.lastEventId;
    first.close();
    // 10 MB missed, more than the kernel's socket buffers: the replay sends at most 32 KB past
    // them (half the limit) and waits for a drain each time; the reader stops a while at first.
    const count = 600;
    await r.bus.publish(Array.from({ length: count }, (_, i) => item(i, { pad: 'x'.repeat(16 * 1024) })));
    const again = await r.open('filter=all', { 'last-event-id': from });
    again.socket.pause();
    await new Promise((res) => setTimeout(res, 300));
    again.socket.resume();
    expect(await again.waitForEvent('resumed', 20_000)).toMatchObject({ replayed: count });
    expect(ids(again)).toEqual([...Array(count).keys()]);
    expect(await counter(r.metrics, 'slowConsumerCloses')).toBe(0);
  });

  it('takes the position from ?last_event_id= too, and the header over it', async () => {
    const r = await startEdge();
    const first = await r.open('filter=all');
    await first.waitForEvent('welcome');
    await r.bus.publish([0, 1].map((i) => item(i)));
    await first.waitForNotifications(2);
    const atFirst = first.events.find((e) => e.event === 'message')!.id;
    const atSecond = first.lastEventId;
    const byQuery = await r.open(`filter=all&last_event_id=${encodeURIComponent(atFirst)}`);
    await byQuery.waitForEvent('resumed');
    expect(ids(byQuery)).toEqual([1]);
    const both = await r.open(`filter=all&last_event_id=${encodeURIComponent(atFirst)}`, { 'last-event-id': atSecond });
    expect(await both.waitForEvent('resumed')).toMatchObject({ replayed: 0 });
    expect(ids(both)).toEqual([]);
  });

  it('resumes on another edge of the same bus', async () => {
    const bus = new MemoryBus();
    const a = await startEdge({ bus });
    const b = await startEdge({ bus });
    const s = await a.open('filter=all');
    await s.waitForEvent('welcome');
    await bus.publish([item(0)]);
    await s.waitForNotifications(1);
    s.close();
    await bus.publish([item(1), item(2)]);
    const again = await b.open('filter=all', { 'last-event-id': s.lastEventId });
    await again.waitForEvent('resumed');
    expect(ids(again)).toEqual([1, 2]);
  });

  it('sends event: reset with the live position when the epoch is unknown, then live notifications', async () => {
    const r = await startEdge();
    const s = await r.open('filter=all', { 'last-event-id': 'some-other-epoch/1-0' });
    const reset = await s.waitForEvent('reset');
    expect(reset).toMatchObject({ type: 'reset', reason: 'epoch', epoch: r.bus.epoch });
    expect(s.lastEventId).toBe(`${r.bus.epoch}/${String(reset['offset'])}`);
    await r.bus.publish([item(0)]);
    await s.waitForNotifications(1);
    expect(ids(s)).toEqual([0]);
  });
});

describe('refusals before any event', () => {
  it('answers 400 in JSON for a missing or invalid filter, an invalid where, a malformed Last-Event-ID, too many filters', async () => {
    const r = await startEdge({ env: { NOTIFIER_MAX_SUBSCRIPTIONS: '2' } });
    const cases: [string, Record<string, string>, string][] = [
      ['', {}, 'invalid_filter'],
      ['filter=nonsense:', {}, 'invalid_filter'],
      ['filter=all&where=not-json', {}, 'invalid_where'],
      [`filter=all&where=${encodeURIComponent('{"a":{"$nope":1}}')}`, {}, 'invalid_where'],
      ['filter=all', { 'last-event-id': 'garbage' }, 'invalid_last_event_id'],
      ['filter=all&last_event_id=epoch/notanoffset', {}, 'invalid_last_event_id'],
      ['filter=all&filter=user:1&filter=user:2', {}, 'too_many_subscriptions'],
    ];
    for (const [query, headers, error] of cases) {
      const s = await r.open(query, headers);
      expect(s.status, query).toBe(400);
      expect(s.res.headers['content-type']).toBe('application/json');
      expect(await s.body()).toMatchObject({ error, message: expect.any(String) });
    }
    expect((await stats(r.http))['connected_clients']).toBe(0);
  });

  it('counts streams in the per-address limit with WebSocket connections, and frees the place on close', async () => {
    const r = await startEdge({ env: { NOTIFIER_MAX_CONNECTIONS_PER_IP: '2' } });
    const ws = await TestClient.connect(`ws://127.0.0.1:${r.edge.port}/ws`);
    try {
      const first = await r.open('filter=all');
      await first.waitForEvent('welcome');
      const refused = await r.open('filter=all');
      expect(refused.status).toBe(429);
      expect(await refused.body()).toMatchObject({ reason: 'per_ip' });
      first.close();
      await eventually(async () => (await stats(r.http))['connected_clients'] === 1, 5000, 'the stream to be gone');
      const again = await r.open('filter=all');
      expect(again.status).toBe(200);
    } finally {
      ws.close();
    }
  });

  it('answers 401 without a token or with a bad one, 403 for a filter the token does not allow, and streams with ?token=', async () => {
    const r = await startEdge({ jwt: true });
    const expired = await mintToken({ expiresIn: -60 });
    for (const [query, reason] of [
      ['filter=user:user-1', 'missing'],
      ['filter=user:user-1&token=not.a.jwt', 'invalid'],
      [`filter=user:user-1&token=${expired}`, 'expired'],
    ] as const) {
      const s = await r.open(query);
      expect(s.status).toBe(401);
      expect(await s.body()).toEqual({ error: 'unauthorized', reason });
    }
    const token = await mintToken({ sub: 'user-1' });
    const forbidden = await r.open(`filter=user:user-1&filter=all&token=${token}`);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.body()).toEqual({ error: 'forbidden', filter: 'all' });
    const own = await r.open(`filter=user:user-1&token=${token}`);
    expect(own.status).toBe(200);
    expect(await own.waitForEvent('welcome')).toMatchObject({ user_id: 'user-1', expires_at: expect.any(String) });
    const byHeader = await r.open('filter=user:user-1', { authorization: `Bearer ${token}` });
    expect(byHeader.status).toBe(200);
    await r.bus.publish([item(0, { user_id: 'user-1' }), item(1, { user_id: 'user-2' }), item(2, { user_id: 'user-1' })]);
    await own.waitForNotifications(2);
    expect(ids(own)).toEqual([0, 2]);
  });

  it("keeps a scoped token's stream to its tenant, live and in a replay", async () => {
    const r = await startEdge({ jwt: true, env: { NOTIFIER_SCOPE_FIELDS: 'tenant_id' } });
    const acme = await mintToken({ sub: 'a', claim: { filters: ['all'], scope: { tenant_id: 'acme' } } });
    const other = await mintToken({ sub: 'b', claim: { filters: ['all'], scope: { tenant_id: 'other' } } });
    const a = await r.open(`filter=all&token=${acme}`);
    const b = await r.open(`filter=all&token=${other}`);
    const from = String((await a.waitForEvent('welcome'))['offset']);
    await b.waitForEvent('welcome');
    await r.bus.publish([item(0, { tenant_id: 'acme' }), item(1, { tenant_id: 'other' }), item(2, { tenant_id: 'acme' }), item(3)]);
    await a.waitForNotifications(2);
    await b.waitForNotifications(1);
    await r.bus.publish([item(4, { tenant_id: 'acme' })]);
    await a.waitForNotifications(3);
    expect(ids(a)).toEqual([0, 2, 4]);
    expect(ids(b)).toEqual([1]);
    const again = await r.open(`filter=all&token=${acme}`, { 'last-event-id': `${r.bus.epoch}/${from}` });
    await again.waitForEvent('resumed');
    expect(ids(again)).toEqual([0, 2, 4]);
  });

  it('ends a stream whose token expires with event: close 4004', async () => {
    const r = await startEdge({ jwt: true, env: { NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS: '0', NOTIFIER_SLOW_CONSUMER_CHECK_MS: '50' } });
    // `exp` is in whole seconds: 2 s from now is at least 1 s away, so the token is valid at connect.
    const token = await mintToken({ sub: 'user-1', expiresIn: 2 });
    const s = await r.open(`filter=user:user-1&token=${token}`);
    expect(s.status).toBe(200);
    await s.waitForEvent('welcome');
    expect(await s.waitForEvent('close', 6000)).toMatchObject({ code: 4004 });
    await s.until(() => s.ended, 5000, 'the stream to end');
  });
});

describe('slow consumers and drain', () => {
  it('closes a stream that stops reading, while a reading one gets everything', async () => {
    const bus = new MemoryBus({ retention: 100 });
    const r = await startEdge({ bus, env: { NOTIFIER_MAX_BACKPRESSURE_BYTES: '65536', NOTIFIER_SLOW_CONSUMER_CHECK_MS: '10' } });
    const good = await r.open('filter=all');
    const slow = await r.open('filter=all');
    await good.waitForEvent('welcome');
    await slow.waitForEvent('welcome');
    slow.socket.pause();
    let sent = 0;
    while ((await counter(r.metrics, 'slowConsumerCloses')) === 0) {
      if (sent >= 2000) throw new Error('slow consumer never detected');
      await bus.publish([item(sent++, { pad: 'x'.repeat(8 * 1024) })]);
      await new Promise((res) => setTimeout(res, 2));
    }
    await bus.publish([item(sent++)]);
    await good.waitForNotifications(sent, 20_000);
    expect(ids(good)).toEqual([...Array(sent).keys()]);
    expect(await stats(r.http)).toMatchObject({ connected_clients: 1, connections: { sse: 1 } });
    slow.socket.resume();
    expect(await slow.waitForEvent('close', 10_000)).toMatchObject({ code: 4001 });
    // It got what it had not read, in order, with no gap: a resume picks up from its last id.
    expect(ids(slow)).toEqual([...Array(slow.notifications.length).keys()]);
  });

  it('ends every stream with event: close 1012 over the drain window', async () => {
    const r = await startEdge({ env: { NOTIFIER_DRAIN_SECONDS: '1' } });
    const streams = await Promise.all(Array.from({ length: 10 }, () => r.open('filter=all')));
    await Promise.all(streams.map((s) => s.waitForEvent('welcome')));
    // A kept-alive HTTP connection still reaches the draining edge after its listen socket closed.
    const keptAlive = await rawHttp(r.edge.port);
    const started = Date.now();
    const stopped = r.edge.stop();
    running = running.filter((x) => x !== r);
    expect(r.edge.isReady()).toBe(false);
    expect(await keptAlive('/sse?filter=all')).toMatch(/^HTTP\/1\.1 503 /);
    await Promise.all(streams.map((s) => s.waitForEvent('close', 5000)));
    await stopped;
    const elapsed = Date.now() - started;
    for (const s of streams) {
      expect(s.controls('close')[0]).toMatchObject({ code: 1012 });
      await s.until(() => s.ended, 5000, 'the stream to end');
      s.close();
    }
    expect(elapsed).toBeGreaterThanOrEqual(800);
    expect(elapsed).toBeLessThan(3000);
  });
});

/** A raw HTTP/1.1 connection to 127.0.0.1:port: each call sends one GET and resolves with the answer's first bytes. */
async function rawHttp(port: number): Promise<(path: string) => Promise<string>> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  return (path) =>
    new Promise((resolve) => {
      socket.once('data', (d: Buffer) => resolve(d.toString('utf8')));
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
}

describe('on real PostgreSQL and Redis', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await createCluster();
    const listener = cluster.startListener();
    await listener.waitForEvent('leader:listen:success');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('resumes on edge B, from the last event id received on edge A, everything missed in order then live', async () => {
    const edges = [await cluster.startEdge(), await cluster.startEdge()];
    for (const e of edges) {
      await waitReady(e.http);
      await waitLeaderSeen(e.http);
    }
    const publish = (from: number, to: number, type = 'sse1') =>
      cluster.db.sql(`SELECT notifier.publish('x', json_build_object('entity_type', '${type}', 'entity_id', i)::jsonb) FROM generate_series(${from}, ${to}) i`);
    const onA = await SseReader.open(`${edges[0]!.http}/sse?filter=entity_type:sse1`);
    try {
      await onA.waitForEvent('welcome');
      await publish(0, 9);
      await onA.waitForNotifications(10);
      onA.close();
      // A watcher on B: once it has 29, B holds everything A's reader missed (a replay, not live).
      const watcher = await SseReader.open(`${edges[1]!.http}/sse?filter=entity_type:sse1`);
      await watcher.waitForEvent('welcome');
      await publish(10, 19, 'sse-other');
      await publish(10, 29);
      await watcher.waitForNotifications(20);
      watcher.close();
      const onB = await SseReader.open(`${edges[1]!.http}/sse?filter=entity_type:sse1`, { 'last-event-id': onA.lastEventId });
      try {
        expect(await onB.waitForEvent('resumed')).toMatchObject({ replayed: 20 });
        await publish(30, 34);
        await onB.waitForNotifications(25);
        expect([...ids(onA), ...ids(onB)]).toEqual([...Array(35).keys()]);
      } finally {
        onB.close();
      }
    } finally {
      onA.close();
    }
  });
});

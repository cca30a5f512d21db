/**
 * The edge in-process on an in-memory bus whose delivery a test can disturb: readiness when the
 * leader is absent or the subscription is broken, offset gaps, slow consumers, the inbound limits
 * (rate, subscriptions, frame size). And `notifier start`'s readiness: the edge's and the listener's.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Bus, BusHandler, PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { Edge } from '../../src/edge/edge.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { metricValue, migrate } from '../helpers/cluster.js';
import { ProcessGroup } from '../helpers/processes.js';
import { createTestDatabase, eventually, type TestDatabase } from '../helpers/services.js';
import { TcpProxy } from '../cluster/tcp-proxy.js';
import { TestClient } from '../helpers/ws-client.js';

/** A MemoryBus whose deliveries to the edge can be filtered, as a broken subscription would. */
class LossyBus extends MemoryBus implements Bus {
  dropHeartbeats = false;
  dropNotifications = 0;
  override subscribe(handler: BusHandler): Promise<void> {
    return super.subscribe({
      ...handler,
      onNotification: (n) => {
        if (this.dropNotifications > 0) {
          this.dropNotifications -= 1;
          return;
        }
        handler.onNotification(n);
      },
      onHeartbeat: (h) => {
        if (!this.dropHeartbeats) handler.onHeartbeat(h);
      },
    });
  }
}

let running: { edge: Edge; clients: TestClient[]; sockets: Socket[] }[] = [];
afterEach(async () => {
  for (const r of running) {
    r.clients.forEach((c) => c.close());
    r.sockets.forEach((s) => s.destroy());
    await r.edge.stop();
  }
  running = [];
});

async function startEdge(bus: Bus, env: Record<string, string> = {}) {
  const config = loadConfig({ env: { PORT: '0', HOST: '127.0.0.1', NOTIFIER_BUS_STALE_MS: '600', NOTIFIER_DRAIN_SECONDS: '0', ...env } });
  const metrics = createMetrics();
  const edge = new Edge({ config, bus, logger: pino({ level: 'silent' }), metrics });
  await edge.start();
  const r = { edge, clients: [] as TestClient[], sockets: [] as Socket[], metrics, http: `http://127.0.0.1:${edge.port}` };
  running.push(r);
  return r;
}

/** A client of the edge subscribed to `filter`, closed after the test. */
async function subscribedClient(r: Awaited<ReturnType<typeof startEdge>>, filter: string): Promise<TestClient> {
  const c = await TestClient.connect(`ws://127.0.0.1:${r.edge.port}/ws`);
  r.clients.push(c);
  await c.subscribe(filter);
  return c;
}

const readyStatus = async (http: string) => (await fetch(`${http}/ready`)).status;
const stats = async (http: string) => (await (await fetch(`${http}/stats`)).json()) as Record<string, unknown>;
const counter = async (m: Metrics, name: keyof Metrics) => ((await (m[name] as { get(): Promise<{ values: { value: number }[] }> }).get()).values[0]?.value ?? 0);

function item(i: number, bytes = 0, fields: Record<string, unknown> = {}): PublishItem {
  const { envelope, keys } = envelopeFromValue('thing_changed', { entity_type: 'thing', entity_id: i, pad: 'x'.repeat(bytes), ...fields }, new Date());
  return { id: `id-${i}-${Math.random()}`, head: frameHead(envelope), keys, notificationType: 'thing_changed', sourceTime: Date.now() };
}

/** A bus that never manages to subscribe (Redis unreachable, say). */
class UnreachableBus extends MemoryBus implements Bus {
  override subscribe(): Promise<void> {
    return new Promise(() => undefined);
  }
}

describe('edge readiness', () => {
  it('refuses upgrades (503) until it knows its position on the bus, so a resume is never served blind', async () => {
    const { http, edge } = await startEdge(new UnreachableBus());
    expect(await readyStatus(http)).toBe(503);
    await expect(TestClient.connect(`ws://127.0.0.1:${edge.port}/ws`)).rejects.toThrow(/Unexpected server response: 503/);
  });

  it('stays ready when no leader heartbeats at all (a cluster matter, not this edge’s)', async () => {
    const { http } = await startEdge(new MemoryBus());
    expect(await readyStatus(http)).toBe(200);
    await eventually(async () => (await stats(http))['leader_heartbeat'] === 'no-leader', 5000, 'no-leader state');
    expect(await readyStatus(http)).toBe(200);
  });

  it('turns unready when the leader heartbeats but this edge’s subscription does not hear it, and recovers', async () => {
    const bus = new LossyBus();
    const { http } = await startEdge(bus);
    const beat = setInterval(() => void bus.heartbeat('leader-1'), 100);
    try {
      await eventually(async () => (await stats(http))['leader_heartbeat'] === 'fresh' && (await stats(http))['leader'] === 'leader-1', 5000, 'fresh');
      bus.dropHeartbeats = true;
      await eventually(async () => (await readyStatus(http)) === 503, 5000, 'not ready');
      expect((await stats(http))['leader_heartbeat']).toBe('subscription-broken');
      bus.dropHeartbeats = false;
      await eventually(async () => (await readyStatus(http)) === 200, 5000, 'ready again');
    } finally {
      clearInterval(beat);
    }
  });
});

describe('routing through per-filter topics', () => {
  const ids = (c: TestClient) => c.notifications.map((n) => n['entity_id']);

  it('keeps order and delivers once when successive notifications match different filters of a client', async () => {
    const bus = new MemoryBus();
    const r = await startEdge(bus);
    const both = await subscribedClient(r, 'entity_type:thing');
    await both.subscribe('user:7');
    const typeOnly = await subscribedClient(r, 'entity_type:thing');
    const userOnly = await subscribedClient(r, 'user:7');
    // One batch, interleaving the three ways to match: the type, the user, and both at once.
    const via = (i: number) => (i % 3 === 0 ? { entity_type: 'other' } : i % 3 === 1 ? { user_id: 7 } : {});
    const items = Array.from({ length: 60 }, (_, i) => item(i, 0, { ...via(i), user_id: i % 3 === 2 ? null : 7 }));
    await bus.publish(items);
    await both.waitForNotifications(60);
    expect(ids(both)).toEqual(items.map((_, i) => i));
    const typed = items.map((_, i) => i).filter((i) => i % 3 !== 0);
    await typeOnly.waitForNotifications(typed.length);
    const users = items.map((_, i) => i).filter((i) => i % 3 !== 2);
    await userOnly.waitForNotifications(users.length);

    // A sentinel everyone gets proves nothing more (no duplicate) was on its way.
    await both.unsubscribe('entity_type:thing');
    await typeOnly.subscribe('user:7');
    await bus.publish([item(100, 0, { user_id: 7 })]);
    await both.waitForNotifications(61);
    await typeOnly.waitForNotifications(typed.length + 1);
    await userOnly.waitForNotifications(users.length + 1);
    expect(ids(both)).toEqual([...items.map((_, i) => i), 100]);
    expect(ids(typeOnly)).toEqual([...typed, 100]);
    expect(ids(userOnly)).toEqual([...users, 100]);
    expect((await stats(r.http))['filter_sets']).toBeGreaterThan(0);
  });
});

describe('graceful drain', () => {
  it('closes every client with 1012, spread over NOTIFIER_DRAIN_SECONDS, refusing new ones meanwhile', async () => {
    const r = await startEdge(new MemoryBus(), { NOTIFIER_DRAIN_SECONDS: '0.6' });
    const clients = await Promise.all(Array.from({ length: 30 }, () => subscribedClient(r, 'all')));
    const started = Date.now();
    const closedAt: number[] = [];
    const codes = Promise.all(clients.map((c) => c.closed(10_000).then((code) => (closedAt.push(Date.now() - started), code))));
    const stopping = r.edge.stop();
    // Not ready at once, and new upgrades are refused while the drain runs.
    expect(await readyStatus(r.http).catch(() => 503)).toBe(503);
    await stopping;
    expect(new Set(await codes)).toEqual(new Set([1012]));
    // Spread, not all at once: the last batch goes out near the end of the window.
    expect(Math.max(...closedAt)).toBeGreaterThanOrEqual(300);
    expect(Math.min(...closedAt)).toBeLessThan(Math.max(...closedAt));
    running = running.filter((x) => x.edge !== r.edge);
  });
});

describe('offset gaps', () => {
  const ids = (c: TestClient) => c.notifications.map((n) => n['entity_id']);

  it('backfills a gap in the middle of the stream: the client gets everything, in order, once', async () => {
    const bus = new LossyBus();
    const r = await startEdge(bus);
    const c = await subscribedClient(r, 'all');
    await bus.publish([item(1)]);
    bus.dropNotifications = 2;
    await bus.publish([item(2), item(3), item(4), item(5)]);
    await c.waitForNotifications(5);
    expect(ids(c)).toEqual([1, 2, 3, 4, 5]);
    expect(await counter(r.metrics, 'busGaps')).toBe(1);
    expect(await counter(r.metrics, 'backfilled')).toBeGreaterThanOrEqual(2); // live-held ones may come from the history too
    await bus.publish([item(6)]);
    await c.waitForNotifications(6);
    expect(ids(c)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('backfills a gap at the tail, found through the heartbeat', async () => {
    const bus = new LossyBus();
    const r = await startEdge(bus);
    const c = await subscribedClient(r, 'all');
    await bus.publish([item(1)]);
    bus.dropNotifications = 1;
    await bus.publish([item(2)]);
    await bus.heartbeat('leader-1');
    await c.waitForNotifications(2);
    expect(ids(c)).toEqual([1, 2]);
  });

  it('closes connections with 4003 when the missed notifications left the history', async () => {
    const bus = new LossyBus({ retention: 3 });
    const r = await startEdge(bus);
    const c = await subscribedClient(r, 'all');
    await bus.publish([item(1)]);
    bus.dropNotifications = 5;
    await bus.publish([2, 3, 4, 5, 6, 7].map((i) => item(i)));
    expect(await c.closed()).toBe(4003);
    expect(await counter(r.metrics, 'resyncs')).toBe(1);
    // The edge carries on live.
    const d = await subscribedClient(r, 'all');
    await bus.publish([item(8)]);
    await d.waitForNotifications(1);
    expect(ids(d)).toEqual([8]);
  });
});

describe('slow consumers', () => {
  it('closes a client that stops reading with 4001, while a reading client gets everything', async () => {
    const bus = new MemoryBus({ retention: 100 });
    const r = await startEdge(bus, { NOTIFIER_MAX_BACKPRESSURE_BYTES: '65536', NOTIFIER_SLOW_CONSUMER_CHECK_MS: '10' });
    const good = await subscribedClient(r, 'all');
    const slow = await rawSubscriber(r.edge.port, 'all');
    r.sockets.push(slow.socket);
    await eventually(async () => (await stats(r.http))['total_subscriptions'] === 2, 5000, 'both subscribed');
    slow.socket.pause(); // stops reading: the kernel's buffers fill, then the edge's

    // Paced so the buffer grows by far less than the hard cap between two sweeps.
    let sent = 0;
    while ((await counter(r.metrics, 'slowConsumerCloses')) === 0) {
      if (sent >= 2000) throw new Error('slow consumer never detected');
      await bus.publish([item(sent++, 8 * 1024)]);
      await new Promise((res) => setTimeout(res, 2));
    }
    await bus.publish([item(sent++)]);
    await good.waitForNotifications(sent, 20_000);
    expect(good.notifications.map((n) => n['entity_id'])).toEqual([...Array(sent).keys()]);
    expect((await stats(r.http))['connected_clients']).toBe(1);
    // Once it reads again it finds, behind the frames it had missed reading, the close frame.
    slow.socket.resume();
    expect(await slow.closeCode).toBe(4001);
  });
});

describe('inbound limits', () => {
  it('closes a client that sends more than NOTIFIER_MAX_INBOUND_PER_SECOND messages in a second with 4002', async () => {
    const r = await startEdge(new MemoryBus(), { NOTIFIER_MAX_INBOUND_PER_SECOND: '5' });
    const c = await subscribedClient(r, 'all'); // 1 message
    // 20 at once: however the edge's one-second windows split them, one window gets more than 5.
    for (let i = 0; i < 20; i++) c.send({ type: 'ping' });
    expect(await c.closed()).toBe(4002);
    expect(c.messages.filter((m) => m['type'] === 'pong').length).toBeLessThanOrEqual(2 * 5);
    expect(await counter(r.metrics, 'clientErrors')).toBe(1);
    expect((await r.metrics.clientErrors.get()).values).toEqual([expect.objectContaining({ labels: { code: 'rate_limited' }, value: 1 })]);
    await eventually(async () => (await stats(r.http))['connected_clients'] === 0, 5000, 'the connection to be gone');
    // Only the flooding connection: another one is unaffected.
    const d = await subscribedClient(r, 'all');
    d.send({ type: 'ping' });
    await d.next((m) => m['type'] === 'pong');
  });

  it('answers a subscribe beyond NOTIFIER_MAX_SUBSCRIPTIONS with too_many_subscriptions and keeps the connection', async () => {
    const r = await startEdge(new MemoryBus(), { NOTIFIER_MAX_SUBSCRIPTIONS: '2' });
    const c = await subscribedClient(r, 'entity_type:a');
    await c.subscribe('entity_type:b');
    c.send({ type: 'subscribe', filter: 'entity_type:c' });
    const err = await c.next((m) => m['type'] === 'error');
    expect(err).toEqual({ type: 'error', code: 'too_many_subscriptions', message: 'at most 2 subscriptions per connection', filter: 'entity_type:c' });
    // A filter it already has is no new subscription; after an unsubscribe there is room again.
    await c.subscribe('entity_type:a');
    expect((await stats(r.http))['total_subscriptions']).toBe(2);
    await c.unsubscribe('entity_type:b');
    await c.subscribe('entity_type:c');
    expect((await stats(r.http))['total_subscriptions']).toBe(2);
    expect(c.closeCode).toBeUndefined();
  });

  it('answers a resume with more than NOTIFIER_MAX_SUBSCRIPTIONS filters with too_many_subscriptions, and a valid resume may follow', async () => {
    const r = await startEdge(new MemoryBus(), { NOTIFIER_MAX_SUBSCRIPTIONS: '2' });
    const c = await TestClient.connect(`ws://127.0.0.1:${r.edge.port}/ws`);
    r.clients.push(c);
    const { epoch, offset } = c.welcome as { epoch: string; offset: string };
    expect(await c.resume(epoch, offset, ['entity_type:a', 'entity_type:b', 'entity_type:c'])).toMatchObject({
      type: 'error',
      code: 'too_many_subscriptions',
    });
    expect((await stats(r.http))['total_subscriptions']).toBe(0);
    // Refused, so it did not count as the connection's first request.
    expect(await c.resume(epoch, offset, ['entity_type:a', 'entity_type:b'])).toMatchObject({ type: 'resumed', replayed: 0 });
    expect((await stats(r.http))['total_subscriptions']).toBe(2);
  });

  it('takes a frame of NOTIFIER_MAX_FRAME_BYTES and drops the connection without a close frame (1006) on a larger one', async () => {
    const r = await startEdge(new MemoryBus(), { NOTIFIER_MAX_FRAME_BYTES: '1024' });
    const c = await subscribedClient(r, 'all');
    // Exactly at the limit: read and answered (a filter of 1024 characters is too long).
    const atLimit = JSON.stringify({ type: 'subscribe', filter: '' });
    c.send({ type: 'subscribe', filter: 'x'.repeat(1024 - atLimit.length) });
    expect(await c.next((m) => m['type'] === 'error')).toMatchObject({ code: 'invalid_filter' });
    // One byte more: uWebSockets.js 20.30 drops the TCP connection; the client sees 1006, not 1009.
    c.send({ type: 'subscribe', filter: 'x'.repeat(1024 - atLimit.length + 1) });
    expect(await c.closed()).toBe(1006);
    await eventually(async () => (await stats(r.http))['connected_clients'] === 0, 5000, 'the connection to be gone');
    expect((await stats(r.http))['total_subscriptions']).toBe(0);
  });
});

describe('notifier start: readiness is the edge’s and the listener’s', () => {
  const group = new ProcessGroup();
  const dbs: TestDatabase[] = [];
  const proxies: TcpProxy[] = [];
  afterAll(async () => {
    await group.killAll();
    await Promise.all(proxies.map((p) => p.close()));
    for (const db of dbs) await db.drop();
  });

  it('/ready and notifier_ready stay 503 / 0 while the listener cannot reach PostgreSQL, though the edge is ready', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    migrate(db.url);
    const url = new URL(db.url);
    const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    proxies.push(proxy);
    url.port = String(await proxy.listen());
    proxy.blackhole(); // PostgreSQL unreachable: connections hang, the listener never gets ready
    const proc = group.spawn(['start'], {
      DATABASE_URL: url.toString(),
      REDIS_URL: '',
      NOTIFIER_MIGRATE: 'false',
      NOTIFIER_LIVE_PAGE: 'false',
      NOTIFIER_SEND_ENDPOINT: 'false',
    });
    const http = `http://127.0.0.1:${await proc.port()}`;
    // The edge itself is ready: on its bus, not draining, admitting clients.
    await eventually(async () => {
      const body = (await (await fetch(`${http}/ready`)).json()) as Record<string, unknown>;
      return body['bus_subscribed'] === true && body['backfilling'] === false && body['draining'] === false;
    }, 10_000, 'the edge to be on its bus');
    const c = await TestClient.connect(`ws://127.0.0.1:${new URL(http).port}/ws`);
    c.close();
    const res = await fetch(`${http}/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'not ready', bus_subscribed: true, draining: false, listener_role: 'connecting' });
    expect(await metricValue(http, 'notifier_ready')).toBe(0);
    expect(await (await fetch(`${http}/stats`)).json()).toMatchObject({ ready: false, listener_role: 'connecting' });

    // PostgreSQL reachable: the listener leads, and only now is the process ready.
    proxy.restore();
    await eventually(async () => (await fetch(`${http}/ready`)).status === 200, 30_000, 'ready once the listener leads');
    expect(await metricValue(http, 'notifier_ready')).toBe(1);
    expect(await (await fetch(`${http}/stats`)).json()).toMatchObject({ ready: true, listener_role: 'leader' });
    expect(await proc.kill('SIGTERM')).toBe(0);
  });
});

/** A WebSocket client on a raw socket, so a test can stop reading from it. */
async function rawSubscriber(port: number, filter: string): Promise<{ socket: Socket; closeCode: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let onUpgraded!: () => void;
  const upgrade = new Promise<void>((resolve) => (onUpgraded = resolve));
  const closeCode = new Promise<number>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        upgraded = true;
        buf = buf.subarray(end + 4);
        onUpgraded();
      }
      // Server frames are unmasked: opcode, 7/16/64-bit length, payload.
      for (;;) {
        if (buf.length < 2) return;
        const opcode = (buf[0] ?? 0) & 0x0f;
        let len = (buf[1] ?? 0) & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          offset = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          offset = 10;
        }
        if (buf.length < offset + len) return;
        if (opcode === 0x8) resolve(len >= 2 ? buf.readUInt16BE(offset) : 1005);
        buf = buf.subarray(offset + len);
      }
    });
    socket.once('close', () => reject(new Error('socket closed without a close frame')));
  });
  closeCode.catch(() => undefined);
  // Only after the 101: bytes sent before the upgrade completes are not read as WebSocket frames.
  await upgrade;
  socket.write(maskedTextFrame(JSON.stringify({ type: 'subscribe', filter })));
  return { socket, closeCode };
}

function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('short frames only');
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

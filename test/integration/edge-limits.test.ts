/**
 * Issue 14 §6 on a real in-process edge (uWebSockets.js, in-memory bus): origins, the client
 * address behind a trusted proxy (X-Forwarded-For and PROXY protocol v2 on a raw socket), per-IP
 * and per-user limits, the upgrade rate, slowloris, the Host allow-list and the metrics port/token.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createEdgeAuthenticator } from '../../src/edge/auth/edge-authenticator.js';
import { Edge, type EdgeOptions } from '../../src/edge/edge.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { haproxyBin, haproxyConfig } from '../cluster/harness.js';
import { JWT_ENV, mintToken } from '../helpers/tokens.js';
import { TestClient } from '../helpers/ws-client.js';

let running: { edge: Edge; clients: TestClient[]; sockets: Socket[] }[] = [];
afterEach(async () => {
  for (const r of running) {
    r.clients.forEach((c) => c.close());
    r.sockets.forEach((s) => s.destroy());
    await r.edge.stop();
  }
  running = [];
});

async function startEdge(env: Record<string, string> = {}, extra: Partial<EdgeOptions> = {}) {
  const config = loadConfig({ env: { PORT: '0', HOST: '127.0.0.1', NOTIFIER_DRAIN_SECONDS: '0', ...env } });
  const metrics = createMetrics();
  const logger = pino({ level: 'silent' });
  const authenticator = await createEdgeAuthenticator(config, logger);
  const edge = new Edge({ config, bus: new MemoryBus(), logger, metrics, authenticator, ...extra });
  await edge.start();
  const r = { edge, clients: [] as TestClient[], sockets: [] as Socket[], metrics, http: `http://127.0.0.1:${edge.port}` };
  running.push(r);
  // The edge admits upgrades once it knows its place on the bus.
  const until = Date.now() + 5000;
  while ((await fetch(`${r.http}/ready`)).status !== 200) {
    if (Date.now() > until) throw new Error('edge not ready');
    await new Promise((res) => setTimeout(res, 20));
  }
  return r;
}
type Running = Awaited<ReturnType<typeof startEdge>>;

/** An upgrade request: 'upgraded' (the socket is kept for afterEach) or the refusal's status and JSON body. */
function upgrade(
  r: Running,
  headers: Record<string, string> = {},
  via: { port?: number; localAddress?: string } = {},
): Promise<'upgraded' | { status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: via.port ?? r.edge.port,
      localAddress: via.localAddress,
      path: '/ws',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (_res, socket) => {
      r.sockets.push(socket);
      resolve('upgraded');
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

const rejected = async (m: Metrics) => Object.fromEntries((await m.rejectedConnections.get()).values.map((v) => [v.labels['reason'], v.value]));

/** Resolves when the socket closes: its time since `t0` in ms. */
const closedAfter = (s: Socket, t0: number) => new Promise<number>((resolve) => s.on('close', () => resolve(Date.now() - t0)));

describe('origin allow-list (NOTIFIER_ALLOWED_ORIGINS)', () => {
  it('unset: same origin and no Origin only; another origin gets 403 JSON and no socket', async () => {
    const r = await startEdge();
    const host = `127.0.0.1:${r.edge.port}`;
    expect(await upgrade(r, { origin: `http://${host}` })).toBe('upgraded');
    expect(await upgrade(r)).toBe('upgraded');
    expect(await upgrade(r, { origin: 'https://evil.example' })).toEqual({ status: 403, body: { error: expect.stringContaining('origin not allowed') } });
    expect(await upgrade(r, { origin: 'null' })).toMatchObject({ status: 403 });
    expect(await rejected(r.metrics)).toEqual({ origin: 2 });
  });

  it('listed origins and the edge’s own are allowed, others refused', async () => {
    const r = await startEdge({ NOTIFIER_ALLOWED_ORIGINS: 'https://app.example.com' });
    expect(await upgrade(r, { origin: 'https://app.example.com' })).toBe('upgraded');
    expect(await upgrade(r, { origin: `http://127.0.0.1:${r.edge.port}` })).toBe('upgraded');
    expect(await upgrade(r, { origin: 'https://app.example.com.evil.example' })).toMatchObject({ status: 403 });
  });
});

describe('per-IP limit and upgrade rate', () => {
  it('the third connection from one address gets 429 naming the limit; a close frees the place', async () => {
    const r = await startEdge({ NOTIFIER_MAX_CONNECTIONS_PER_IP: '2' });
    const a = await TestClient.connect(`ws://127.0.0.1:${r.edge.port}/ws`);
    const b = await TestClient.connect(`ws://127.0.0.1:${r.edge.port}/ws`);
    r.clients.push(a, b);
    const refused = await upgrade(r);
    expect(refused).toEqual({ status: 429, body: { error: expect.stringContaining('NOTIFIER_MAX_CONNECTIONS_PER_IP is 2 per edge'), reason: 'per_ip' } });
    a.close();
    await a.closed();
    await expect.poll(() => upgrade(r), { timeout: 5000 }).toBe('upgraded');
    expect((await rejected(r.metrics))['per_ip']).toBeGreaterThanOrEqual(1);
  });

  it('X-Forwarded-For names the client only when the socket peer is a trusted proxy', async () => {
    const untrusted = await startEdge({ NOTIFIER_MAX_CONNECTIONS_PER_IP: '1' });
    expect(await upgrade(untrusted, { 'x-forwarded-for': '198.51.100.1' })).toBe('upgraded');
    expect(await upgrade(untrusted, { 'x-forwarded-for': '198.51.100.2' })).toMatchObject({ status: 429, body: { reason: 'per_ip' } });

    const behindProxy = await startEdge({ NOTIFIER_MAX_CONNECTIONS_PER_IP: '1', NOTIFIER_TRUSTED_PROXIES: '127.0.0.1/32' });
    expect(await upgrade(behindProxy, { 'x-forwarded-for': '198.51.100.1' })).toBe('upgraded');
    expect(await upgrade(behindProxy, { 'x-forwarded-for': '198.51.100.2' })).toBe('upgraded');
    expect(await upgrade(behindProxy, { 'x-forwarded-for': '198.51.100.1' })).toMatchObject({ status: 429 });
    // A forged hop to the left of the real client changes nothing: the rightmost untrusted hop counts.
    expect(await upgrade(behindProxy, { 'x-forwarded-for': '203.0.113.66, 198.51.100.1' })).toMatchObject({ status: 429 });
  });

  it('PROXY protocol v2 (raw socket): the proxied address counts behind a trusted proxy only', async () => {
    const proxied = (r: Running, client: [number, number, number, number]) =>
      new Promise<string>((resolve) => {
        const s = connect(r.edge.port, '127.0.0.1');
        r.sockets.push(s);
        const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
        // v2 PROXY, TCP over IPv4, 12 address bytes: source, destination, source port, destination port.
        const header = Buffer.concat([sig, Buffer.from([0x21, 0x11, 0, 12, ...client, 127, 0, 0, 1, 0x30, 0x39, 0x1f, 0x90])]);
        const req = 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
        s.write(Buffer.concat([header, Buffer.from(req)]));
        s.once('data', (d: Buffer) => resolve(d.toString('latin1').split('\r\n')[0]!));
      });
    const trusted = await startEdge({ NOTIFIER_MAX_CONNECTIONS_PER_IP: '1', NOTIFIER_TRUSTED_PROXIES: '127.0.0.1/32' });
    expect(await proxied(trusted, [198, 51, 100, 1])).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await proxied(trusted, [198, 51, 100, 2])).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await proxied(trusted, [198, 51, 100, 1])).toBe('HTTP/1.1 429 Too Many Requests');

    const untrusted = await startEdge({ NOTIFIER_MAX_CONNECTIONS_PER_IP: '1' });
    expect(await proxied(untrusted, [198, 51, 100, 1])).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await proxied(untrusted, [198, 51, 100, 2])).toBe('HTTP/1.1 429 Too Many Requests');
  });

  it.each(['http', 'tcp'] as const)('behind HAProxy (deploy/haproxy/haproxy.cfg, %s mode): each client is counted by its own address', async (mode) => {
    const r = await startEdge({ NOTIFIER_MAX_CONNECTIONS_PER_IP: '1', NOTIFIER_TRUSTED_PROXIES: '127.0.0.1/32' });
    const [port, statsPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'notifier-haproxy-'));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig({ mode, port, statsPort, edgePorts: [r.edge.port], maxconn: 100 }));
    const lb = spawn(haproxyBin(), ['-db', '-f', cfg], { stdio: 'ignore' });
    try {
      // Clients on other loopback addresses: HAProxy itself connects to the edge from 127.0.0.1.
      const from = (localAddress: string) => upgrade(r, {}, { port, localAddress });
      await expect.poll(() => from('127.0.0.2').catch(() => 'not yet'), { timeout: 10_000, interval: 200 }).toBe('upgraded');
      expect(await from('127.0.0.3')).toBe('upgraded');
      expect(await from('127.0.0.2')).toMatchObject({ status: 429, body: { reason: 'per_ip' } });
    } finally {
      lb.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('upgrade rate: a burst of N per address, then 429 upgrade_rate until it refills', async () => {
    const r = await startEdge({ NOTIFIER_MAX_UPGRADES_PER_IP_PER_SECOND: '3' });
    for (let i = 0; i < 3; i++) expect(await upgrade(r)).toBe('upgraded');
    expect(await upgrade(r)).toEqual({ status: 429, body: { error: expect.stringContaining('NOTIFIER_MAX_UPGRADES_PER_IP_PER_SECOND is 3'), reason: 'upgrade_rate' } });
    await expect.poll(() => upgrade(r), { timeout: 3000, interval: 100 }).toBe('upgraded');
    expect((await rejected(r.metrics))['upgrade_rate']).toBeGreaterThanOrEqual(1);
  });
});

describe('per-user limit (NOTIFIER_MAX_CONNECTIONS_PER_USER)', () => {
  it('applies to a token’s subject, not to its address', async () => {
    const r = await startEdge({ ...JWT_ENV, NOTIFIER_MAX_CONNECTIONS_PER_USER: '2' });
    const alice = await mintToken({ sub: 'alice' });
    for (let i = 0; i < 2; i++) expect(await upgrade(r, { authorization: `Bearer ${alice}` })).toBe('upgraded');
    expect(await upgrade(r, { authorization: `Bearer ${alice}` })).toEqual({
      status: 429,
      body: { error: expect.stringContaining('NOTIFIER_MAX_CONNECTIONS_PER_USER is 2 per edge'), reason: 'per_user' },
    });
    expect(await upgrade(r, { authorization: `Bearer ${await mintToken({ sub: 'bob' })}` })).toBe('upgraded');
    expect(await rejected(r.metrics)).toEqual({ per_user: 1 });
  });
});

describe('slowloris', () => {
  // uWS 20.30 gives an HTTP request 10 s (HTTP_IDLE_TIMEOUT_S) to complete, from its first byte;
  // trickled bytes do not extend it, and its timers tick every 4 s: dropped within 10–14 s.
  it('drops an upgrade request that never completes within 14 s, however slowly it keeps sending', async () => {
    const r = await startEdge();
    const t0 = Date.now();
    const s = connect(r.edge.port, '127.0.0.1');
    r.sockets.push(s);
    s.on('error', () => undefined);
    const closed = closedAfter(s, t0);
    s.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    let n = 0;
    const trickle = setInterval(() => {
      if (!s.destroyed) s.write(`X-Slow-${n++}: ${'a'.repeat(3)}\r\n`);
    }, 500);
    try {
      const ms = await closed;
      expect(ms).toBeGreaterThanOrEqual(9_000);
      expect(ms).toBeLessThanOrEqual(14_500);
      expect(n).toBeGreaterThan(10);
    } finally {
      clearInterval(trickle);
    }
  }, 20_000);
});

describe('Host allow-list (NOTIFIER_ALLOWED_HOSTS) for the live page and POST /api/notify', () => {
  const hostStatus = (r: Running, path: string, host: string, method = 'GET') =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: r.edge.port, path, method, headers: { host, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? JSON.stringify({ channel: 'execution_created', payload: { entity_type: 'execution', entity_id: 1 } }) : undefined);
    });

  it('answers loopback names by default and 403 to any other Host (DNS rebinding)', async () => {
    const sent: unknown[] = [];
    const r = await startEdge({}, { livePage: true, send: async (req) => void sent.push(req) });
    const port = r.edge.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect(await hostStatus(r, '/', host), host).toBe(200);
      expect(await hostStatus(r, '/api/info', host), host).toBe(200);
    }
    expect(await hostStatus(r, '/api/notify', `localhost:${port}`, 'POST')).toBe(202);
    for (const path of ['/', '/api/info']) expect(await hostStatus(r, path, `rebound.attacker.example:${port}`), path).toBe(403);
    expect(await hostStatus(r, '/api/notify', `rebound.attacker.example:${port}`, 'POST')).toBe(403);
    expect(sent).toHaveLength(1);
    // Not the operational endpoints: probes and scrapers use any name.
    expect(await hostStatus(r, '/health', 'edge-1.internal:8080')).toBe(200);
  });

  it('takes the names configured', async () => {
    const r = await startEdge({ NOTIFIER_ALLOWED_HOSTS: 'notifier.example.com' }, { livePage: true });
    expect(await hostStatus(r, '/', 'notifier.example.com')).toBe(200);
    expect(await hostStatus(r, '/', `localhost:${r.edge.port}`)).toBe(403);
  });
});

describe('/metrics and /stats: NOTIFIER_METRICS_PORT and NOTIFIER_METRICS_TOKEN', () => {
  const TOKEN = 'metrics-token-0123456789';
  const get = async (port: number, path: string, token?: string) =>
    (await fetch(`http://127.0.0.1:${port}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })).status;

  it('a metrics port serves them there only; /health and /ready stay on the main port; stop closes it', async () => {
    const r = await startEdge({ NOTIFIER_METRICS_PORT: String(await freePort()) });
    const { port, metricsPort } = r.edge;
    expect(metricsPort).not.toBe(port);
    expect([await get(metricsPort, '/metrics'), await get(metricsPort, '/stats')]).toEqual([200, 200]);
    expect([await get(port, '/metrics'), await get(port, '/stats')]).toEqual([404, 404]);
    expect([await get(port, '/health'), await get(port, '/ready')]).toEqual([200, 200]);
    expect([await get(metricsPort, '/health'), await get(metricsPort, '/ws')]).toEqual([404, 404]);
    await r.edge.stop();
    running = running.filter((x) => x !== r);
    // A new connection (fetch would reuse its kept-alive one, which the listen socket does not own).
    const refused = await new Promise<string>((resolve) => {
      const s = connect(metricsPort, '127.0.0.1');
      s.on('connect', () => (s.destroy(), resolve('connected')));
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('a token: 401 without `Authorization: Bearer <token>`, on the main port or the metrics port', async () => {
    const main = await startEdge({ NOTIFIER_METRICS_TOKEN: TOKEN });
    expect([await get(main.edge.port, '/metrics'), await get(main.edge.port, '/stats')]).toEqual([401, 401]);
    expect(await get(main.edge.port, '/metrics', 'wrong-token-0123456789')).toBe(401);
    expect([await get(main.edge.port, '/metrics', TOKEN), await get(main.edge.port, '/stats', TOKEN)]).toEqual([200, 200]);
    expect(await get(main.edge.port, '/health')).toBe(200);

    const separate = await startEdge({ NOTIFIER_METRICS_TOKEN: TOKEN, NOTIFIER_METRICS_PORT: String(await freePort()) });
    expect(await get(separate.edge.metricsPort, '/metrics')).toBe(401);
    expect(await get(separate.edge.metricsPort, '/metrics', TOKEN)).toBe(200);
  });
});

/** A port free now (the edge binds exclusively, so a clash would fail its start loudly). */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The live page and its send endpoint as users reach them: on by default in `notifier start`,
 * absent on an edge unless asked (NOTIFIER_LIVE_PAGE, NOTIFIER_SEND_ENDPOINT), and POST
 * /api/notify validating its input and delivering through PostgreSQL to WebSocket clients. The
 * client SDK the page runs on, at GET /sdk/…: the compiled files it imports and no other.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, migrate, waitLeaderSeen, waitReady, type Cluster } from '../helpers/cluster.js';
import { ProcessGroup, type NotifierProcess } from '../helpers/processes.js';
import { createTestDatabase, serviceUrls, uniqueName, type TestDatabase } from '../helpers/services.js';
import { TestClient } from '../helpers/ws-client.js';

const group = new ProcessGroup();
const dbs: TestDatabase[] = [];
const clusters: Cluster[] = [];

afterAll(async () => {
  await group.killAll();
  for (const c of clusters) await c.stop();
  for (const db of dbs) await db.drop();
});

async function startStandalone(env: Record<string, string> = {}): Promise<{ proc: NotifierProcess; http: string; ws: string }> {
  const db = await createTestDatabase();
  dbs.push(db);
  const proc = group.spawn(['start'], { DATABASE_URL: db.url, REDIS_URL: '', NOTIFIER_DRAIN_SECONDS: '0', ...env });
  const port = await proc.port();
  return { proc, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws` };
}

/** An edge on Redis alone (no DATABASE_URL), as deployed. */
async function startEdge(env: Record<string, string> = {}): Promise<string> {
  const proc = group.spawn(['edge'], { NOTIFIER_AUTH: 'none', REDIS_URL: serviceUrls().redisUrl, NOTIFIER_REDIS_PREFIX: uniqueName('t'), ...env });
  return `http://127.0.0.1:${await proc.port()}`;
}

const post = (http: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${http}/api/notify`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;

/** GET `path` sent as is (fetch would resolve `..` first), with this Host. */
function rawGet(http: string, path: string, host?: string): Promise<{ status: number; type: string | undefined; body: string }> {
  const { hostname, port } = new URL(http);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const DIST = new URL('../../dist/', import.meta.url);

describe('notifier start: the live page and POST /api/notify, on by default', () => {
  let app: Awaited<ReturnType<typeof startStandalone>>;
  beforeAll(async () => {
    app = await startStandalone();
    await waitReady(app.http);
    await waitLeaderSeen(app.http);
  });

  it('serves the page at GET / as HTML, revalidated by ETag, with a CSP', async () => {
    const res = await fetch(`${app.http}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'sha256-[^']+' 'self'; style-src 'sha256-/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('<title>notifier · live</title>');
    const etag = res.headers.get('etag') ?? '';
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${app.http}/`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    // The log names the page's address, for the first run.
    const line = await app.proc.waitForEvent('edge:live-page');
    expect(line['url']).toBe(`${app.http}/`);
  });

  it('tells the page what it offers at GET /api/info', async () => {
    const res = await fetch(`${app.http}/api/info`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      send: { enabled: true },
      channels: expect.arrayContaining(['execution_status_changed', 'event_created']),
      max_subscriptions: 100,
    });
  });

  it.each([
    ['not JSON', '{"channel":', /body is not valid JSON/],
    ['not an object', '[]', /body must be a JSON object/],
    ['no channel', { payload: {} }, /channel must be a string/],
    ['no payload', { channel: 'execution_status_changed' }, /payload is missing/],
    ['outbox not boolean', { channel: 'c', payload: {}, outbox: 'yes' }, /outbox must be true or false/],
    ['an empty channel', { channel: '', payload: {} }, /channel must not be empty/],
    ['a channel over 63 bytes', { channel: 'c'.repeat(64), payload: {} }, /longer than 63 bytes/],
    ['a plain payload over 7999 bytes', { channel: 'c', payload: { pad: 'x'.repeat(8000) } }, /a plain NOTIFY carries at most 7999/],
  ])('answers 400 with a clear error for %s', async (_what, body, message) => {
    const res = await post(app.http, body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await errorOf(res)).toMatch(message);
  });

  it('refuses other methods, other content types, other origins and large bodies', async () => {
    const get = await fetch(`${app.http}/api/notify`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    // A cross-site form can send text/plain without asking the browser first; JSON it cannot.
    const text = await post(app.http, '{"channel":"c","payload":{}}', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    const cross = await post(app.http, { channel: 'c', payload: {} }, { 'content-type': 'application/json', origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(await errorOf(cross)).toMatch(/cross-origin request from http:\/\/evil\.example refused/);
    const big = await post(app.http, { channel: 'c', payload: 'x'.repeat(70_000), outbox: true });
    expect(big.status).toBe(413);
    // The server is still fine afterwards.
    expect((await fetch(`${app.http}/health`)).status).toBe(200);
  });

  it('delivers a plain and an outbox notification to a subscribed WebSocket client (202)', async () => {
    const c = await TestClient.connect(app.ws);
    try {
      await c.subscribe('entity_type:execution');
      const plain = await post(app.http, { channel: 'execution_status_changed', payload: { entity_type: 'execution', entity_id: 123, status: 'running' } });
      expect(plain.status).toBe(202);
      expect(await plain.json()).toEqual({ status: 'sent', channel: 'execution_status_changed', outbox: false });
      // Same-origin requests (the page's own) pass the Origin check.
      const outbox = await post(app.http, { channel: 'execution_created', payload: { entity_type: 'execution', entity_id: 124 }, outbox: true }, {
        'content-type': 'application/json',
        origin: app.http,
      });
      expect(outbox.status).toBe(202);
      const got = await c.waitForNotifications(2);
      expect(got.map((n) => [n['notification_type'], n['entity_id'], n['payload']])).toEqual([
        ['execution_status_changed', 123, { entity_type: 'execution', entity_id: 123, status: 'running' }],
        ['execution_created', 124, { entity_type: 'execution', entity_id: 124 }],
      ]);
    } finally {
      c.close();
    }
  });

  it('serves the client SDK at /sdk/: the compiled files index.js imports, as JavaScript, revalidated by ETag', async () => {
    for (const path of ['client/index.js', 'client/client.js', 'client/emitter.js', 'client/handler-sets.js', 'client/socket.js', 'client/where.js', 'protocol/filters.js', 'protocol/offsets.js', 'protocol/close-action.js']) {
      const res = await fetch(`${app.http}/sdk/${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toBe(readFileSync(new URL(path, DIST), 'utf8'));
      const again = await fetch(`${app.http}/sdk/${path}`, { headers: { 'if-none-match': res.headers.get('etag') ?? '' } });
      expect(again.status).toBe(304);
    }
    // The page's CSP lets it load them: scripts from this server.
    expect((await fetch(`${app.http}/`)).headers.get('content-security-policy')).toMatch(/script-src 'sha256-[^']+' 'self';/);
  });

  it.each([
    ['a compiled file the SDK does not import', '/sdk/protocol/permissions.js'],
    ['a type-only module', '/sdk/client/types.js'],
    ['a source map', '/sdk/client/client.js.map'],
    ['another directory of dist', '/sdk/edge/edge.js'],
    ['a path up and out', '/sdk/client/../../cli.js'],
    ['a path up, encoded', '/sdk/client/%2e%2e/%2e%2e/cli.js'],
    ['a path up to the page', '/sdk/../edge/live-page.html'],
    ['the directory', '/sdk/client/'],
  ])('answers 404 for %s (%s)', async (_what, path) => {
    const res = await rawGet(app.http, path);
    expect(res.status).toBe(404);
    expect(res.type).toBe('application/json');
    expect(res.body).not.toMatch(/export|import/);
  });

  it('answers /sdk/ only for a Host on NOTIFIER_ALLOWED_HOSTS, like the page', async () => {
    const port = new URL(app.http).port;
    expect((await rawGet(app.http, '/sdk/client/index.js', `localhost:${port}`)).status).toBe(200);
    const rebound = await rawGet(app.http, '/sdk/client/index.js', `rebound.attacker.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatch(/NOTIFIER_ALLOWED_HOSTS/);
  });

  it('lists the live routes in its 404 answer', async () => {
    const res = await fetch(`${app.http}/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { endpoints: string[] }).endpoints).toEqual(expect.arrayContaining(['/', '/api/info', '/sdk/client/index.js', '/api/notify']));
  });
});

describe('turning the features off and on', () => {
  it('answers 502 with the reason when PostgreSQL does not take the notification', async () => {
    const { http } = await startStandalone({ NOTIFIER_MIGRATE: 'false' });
    const res = await post(http, { channel: 'execution_created', payload: { n: 1 }, outbox: true });
    expect(res.status).toBe(502);
    expect(await errorOf(res)).toMatch(/notifier\.publish does not exist in this database: run `notifier migrate` first/);
  });


  it('notifier start with NOTIFIER_LIVE_PAGE=0 and NOTIFIER_SEND_ENDPOINT=0 serves neither', async () => {
    const { http } = await startStandalone({ NOTIFIER_LIVE_PAGE: '0', NOTIFIER_SEND_ENDPOINT: '0' });
    expect((await fetch(`${http}/`)).status).toBe(404);
    expect((await fetch(`${http}/api/info`)).status).toBe(404);
    expect((await fetch(`${http}/sdk/client/index.js`)).status).toBe(404);
    expect((await post(http, { channel: 'c', payload: {} })).status).toBe(404);
  });

  it('an edge serves neither by default', async () => {
    const http = await startEdge();
    expect((await fetch(`${http}/`)).status).toBe(404);
    expect((await fetch(`${http}/api/info`)).status).toBe(404);
    expect((await fetch(`${http}/sdk/client/index.js`)).status).toBe(404);
    const res = await post(http, { channel: 'c', payload: {} });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { endpoints: string[] }).endpoints).toEqual(['/ws', '/sse', '/health', '/ready', '/stats', '/metrics']);
  });

  it('an edge with NOTIFIER_LIVE_PAGE=1 serves the page, and says sending is off', async () => {
    const http = await startEdge({ NOTIFIER_LIVE_PAGE: '1' });
    const page = await fetch(`${http}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await (await fetch(`${http}/api/info`)).json()).toMatchObject({ send: { enabled: false, reason: expect.stringMatching(/NOTIFIER_SEND_ENDPOINT=1/) } });
    const sdk = await fetch(`${http}/sdk/client/index.js`);
    expect(sdk.status).toBe(200);
    expect(sdk.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await post(http, { channel: 'c', payload: {} })).status).toBe(404);
  });

  it('an edge with NOTIFIER_SEND_ENDPOINT=1 but no DATABASE_URL exits 2 and says what is missing', () => {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../dist/cli.js', import.meta.url)), 'edge'], {
      env: { PATH: process.env['PATH'], NOTIFIER_AUTH: 'none', REDIS_URL: serviceUrls().redisUrl, NOTIFIER_SEND_ENDPOINT: '1', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/NOTIFIER_SEND_ENDPOINT \(sendEndpoint\): POST \/api\/notify sends through PostgreSQL; set DATABASE_URL too/);
  });

  it('an edge with NOTIFIER_SEND_ENDPOINT=1 and DATABASE_URL sends through PostgreSQL to its clients, via the leader', async () => {
    const cluster = await createCluster({ migrate: false });
    clusters.push(cluster);
    migrate(cluster.db.url);
    const listener = cluster.startListener();
    await listener.waitForEvent('leader:listen:success');
    const edge = await cluster.startEdge({ NOTIFIER_SEND_ENDPOINT: '1' });
    await waitReady(edge.http);
    await waitLeaderSeen(edge.http);
    expect((await fetch(`${edge.http}/`)).status).toBe(404);
    const c = await TestClient.connect(edge.url);
    try {
      await c.subscribe('user:456');
      const res = await post(edge.http, { channel: 'inquiry_created', payload: { entity_type: 'inquiry', entity_id: 9, user_id: 456 }, outbox: true });
      expect(res.status).toBe(202);
      const [n] = await c.waitForNotifications(1);
      expect(n).toMatchObject({ notification_type: 'inquiry_created', entity_type: 'inquiry', entity_id: 9, user_id: 456 });
    } finally {
      c.close();
    }
  });
});

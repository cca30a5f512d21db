/**
 * `notifier start` as a user starts it (`node dist/cli.js start` with environment variables, on
 * its own embedded PostgreSQL), with each authentication mode (issue 14 §1):
 * - NOTIFIER_AUTH=jwt: the banner and the start-up log say tokens are required; an upgrade without
 *   a valid token gets 401; a token in any carrier connects and receives notifications.
 * - no NOTIFIER_AUTH: start defaults to none, and its banner, its log and /stats say so.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { NotifierProcess } from '../helpers/processes.js';
import { withClient } from '../helpers/services.js';
import { TEST_JWT_SECRET, mintToken } from '../helpers/tokens.js';
import { TestClient } from '../helpers/ws-client.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

let proc: NotifierProcess | undefined;
let root: string | undefined;

afterEach(async () => {
  if (proc) {
    // SIGTERM: start stops its edge and listener, then its PostgreSQL.
    const exited = proc.kill('SIGTERM');
    const timer = setTimeout(() => proc?.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  if (root) rmSync(root, { recursive: true, force: true });
  proc = undefined;
  root = undefined;
});

/** `notifier start` in a fresh directory (its data directory lands there), as a user runs it. */
function startNotifier(env: Record<string, string>): NotifierProcess {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'notifier-start-auth-')));
  const child = spawn(process.execPath, [CLI, 'start'], {
    cwd: root,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: '0', NOTIFIER_DRAIN_SECONDS: '0.5', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc = new NotifierProcess('start', child);
  return proc;
}

/** The banner: the lines of stdout that are not JSON log lines. */
async function bannerOf(p: NotifierProcess): Promise<string> {
  await p.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('  Ctrl-C stops'), 40_000);
  return p.logs
    .filter((l) => !('level' in l))
    .map((l) => l.msg)
    .join('\n');
}

function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [], { headers, handshakeTimeout: 5000 });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () => {
      resolve({ status: 101, body: '' });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('notifier start and NOTIFIER_AUTH', () => {
  it('NOTIFIER_AUTH=jwt: banner and log say tokens are required; no token, no socket; a token in any carrier connects and receives', async () => {
    const p = startNotifier({ NOTIFIER_AUTH: 'jwt', NOTIFIER_JWT_SECRET: TEST_JWT_SECRET });
    const banner = await bannerOf(p);
    const port = await p.port();
    expect(banner).toContain(`WebSocket     ws://localhost:${port}/ws  (tokens required: NOTIFIER_AUTH=jwt, HS256 from NOTIFIER_JWT_SECRET)`);
    expect(banner).not.toContain('no authentication');
    expect(banner).not.toContain(TEST_JWT_SECRET);
    const authLog = await p.waitForEvent('edge:auth:jwt');
    expect(authLog).toMatchObject({ keySource: 'secret', algorithms: ['HS256'] });
    expect(p.logs.some((l) => l.event === 'edge:auth:off')).toBe(false);
    const url = `ws://127.0.0.1:${port}/ws`;
    expect(((await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { auth?: string }).auth).toBe('jwt');

    expect(await upgradeStatus(url)).toEqual({ status: 401, body: '{"error":"unauthorized","reason":"missing"}' });
    expect((await upgradeStatus(`${url}?token=${await mintToken({ expiresIn: -60 })}`)).status).toBe(401);

    await p.waitForEvent('leader:listen:success');
    const tokenFor = (sub: string) => mintToken({ sub, claim: { filters: ['entity_type:execution'] } });
    const clients = [
      await TestClient.connect(`${url}?token=${await tokenFor('q')}`),
      await TestClient.connect(url, { headers: { authorization: `Bearer ${await tokenFor('h')}` } }),
      await TestClient.connect(url, { protocols: ['notifier.v1', `bearer.${await tokenFor('p')}`] }),
    ];
    expect(clients.map((c) => c.welcome['user_id'])).toEqual(['q', 'h', 'p']);
    expect(clients[2]?.ws.protocol).toBe('notifier.v1');
    for (const c of clients) await c.subscribe('entity_type:execution');
    // Not allowed by the claim: forbidden, the connection stays.
    clients[0]?.send({ type: 'subscribe', filter: 'all' });
    expect(await clients[0]?.next((m) => m['type'] === 'error')).toMatchObject({ code: 'forbidden', filter: 'all' });

    const databaseUrl = /DATABASE_URL {2}(\S+)/.exec(banner)?.[1] as string;
    await withClient(databaseUrl, (c) => c.query(`SELECT pg_notify('execution_status_changed', '{"entity_type":"execution","entity_id":5}')`));
    for (const c of clients) expect((await c.waitForNotifications(1))[0]).toMatchObject({ entity_type: 'execution', entity_id: 5 });
    for (const c of clients) c.close();
  });

  it('no NOTIFIER_AUTH: start defaults to none, and its banner, its log and /stats say so', async () => {
    const p = startNotifier({});
    const banner = await bannerOf(p);
    const port = await p.port();
    expect(banner).toContain(`WebSocket     ws://localhost:${port}/ws  (no authentication: NOTIFIER_AUTH=none)`);
    await p.waitForEvent('edge:auth:off');
    expect(p.logs.some((l) => l.event === 'edge:auth:jwt')).toBe(false);
    expect(((await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { auth?: string }).auth).toBe('none');
    const anonymous = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    expect(anonymous.welcome['user_id'] ?? null).toBeNull();
    await anonymous.subscribe('all');
    anonymous.close();
  });
});

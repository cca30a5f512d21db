/**
 * Issue 14 §2: no token, no query string with a token, no secret and no password in a
 * DATABASE_URL ever appears in a log line, an error message or a metric label.
 *
 * A cluster of real processes at LOG_LEVEL=debug: `notifier migrate`, a leading listener, two
 * edges with NOTIFIER_AUTH=jwt and a NOTIFIER_JWT_SECRET, and two listeners that fail (PostgreSQL
 * unreachable; a database that does not exist). DATABASE_URL is a PostgreSQL role's, with a
 * password full of URL-special characters (the shared server trusts it, so any password
 * connects; the role and its database are created here and dropped after); REDIS_URL carries a
 * password too. Clients then connect with valid, forged, expired and malformed tokens in all three
 * carriers (`?token=`, `Authorization: Bearer`, `Sec-WebSocket-Protocol: bearer.…`), with
 * conflicting carriers and with none; send refreshes (accepted, expired, forged, malformed, another
 * subject, and frames that fail to parse around a token); receive notifications; and plain HTTP
 * requests carry `?token=` to every path. Then every byte of every process' stdout and stderr, and
 * every /metrics page, is searched for each token (and its signature alone), anything shaped like a
 * JWT, `token=`, the JWT secret and the passwords (raw and URL-encoded).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnNotifier, type NotifierProcess } from '../helpers/processes.js';
import { eventually, serviceUrls, uniqueName, withClient } from '../helpers/services.js';
import { mintToken } from '../helpers/tokens.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';
import { waitLeaderSeen, waitReady } from '../helpers/cluster.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

const JWT_SECRET = `jwt-secret-${randomBytes(24).toString('hex')}`;
const WRONG_SECRET = new TextEncoder().encode(`wrong-secret-${randomBytes(24).toString('hex')}`);
/** URL-special characters: a masker that handles only the simple case shows the rest. */
const DB_PASSWORD = `Db!pw@${randomBytes(6).toString('hex')}:/?#%&=`;
const REDIS_PASSWORD = `redis-pw-${randomBytes(8).toString('hex')}`;

/** Everything a process wrote, as written. */
interface Output {
  name: string;
  stdout: string;
  stderr: string;
}
const outputs: Output[] = [];
const procs: NotifierProcess[] = [];
const metricsPages: { name: string; text: string }[] = [];
/** Every token minted here, whatever became of it. */
const tokens: string[] = [];

const role = uniqueName('leak_role');
const dbName = uniqueName('leak_db');
let admin = '';
let databaseUrl = '';
let redisUrl = '';
let prefix = '';

function withCredentials(url: string, user: string, password: string, path?: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = encodeURIComponent(password);
  if (path !== undefined) u.pathname = path;
  return u.toString();
}

/** Spawns a notifier process whose raw output is kept (the helper parses stdout; this keeps every byte). */
function start(name: string, args: string[], env: Record<string, string>): NotifierProcess {
  const p = spawnNotifier(args, { LOG_LEVEL: 'debug', ...env });
  const out: Output = { name, stdout: '', stderr: '' };
  p.child.stdout?.on('data', (chunk: string) => (out.stdout += chunk));
  p.child.stderr?.on('data', (chunk: string) => (out.stderr += chunk));
  outputs.push(out);
  procs.push(p);
  return p;
}

/** Runs `notifier <args>` to its end, keeping its output. */
function runToEnd(name: string, args: string[], env: Record<string, string>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Output = { name, stdout: '', stderr: '' };
    outputs.push(out);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function token(opts: Parameters<typeof mintToken>[0] = {}): Promise<string> {
  const t = await mintToken({ claim: { filters: ['all'] }, key: new TextEncoder().encode(JWT_SECRET), ...opts });
  tokens.push(t);
  return t;
}


/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let edges: { proc: NotifierProcess; url: string; http: string }[] = [];
let listenerHttp = '';

beforeAll(async () => {
  admin = serviceUrls().databaseUrl;
  prefix = uniqueName('leak');
  await withClient(admin, async (c) => {
    await c.query(`CREATE ROLE ${role} LOGIN PASSWORD ${c.escapeLiteral(DB_PASSWORD)}`);
    await c.query(`CREATE DATABASE ${dbName} OWNER ${role}`);
  });
  databaseUrl = withCredentials(admin, role, DB_PASSWORD, `/${dbName}`);
  redisUrl = withCredentials(serviceUrls().redisUrl, 'default', REDIS_PASSWORD);
  // The URL really carries the password, encoded: the checks below look for both forms.
  expect(databaseUrl).toContain(encodeURIComponent(DB_PASSWORD));
  expect(new URL(databaseUrl).password).not.toBe('');

  const common = { REDIS_URL: redisUrl, NOTIFIER_REDIS_PREFIX: prefix };
  expect(await runToEnd('migrate', ['migrate'], { DATABASE_URL: databaseUrl })).toBe(0);

  const listener = start('listener', ['listener'], { ...common, DATABASE_URL: databaseUrl });
  await listener.waitForEvent('leader:listen:success', 20_000);
  listenerHttp = `http://127.0.0.1:${await listener.port()}`;
  // Two listeners that fail, with the password in their DATABASE_URL: where connection errors are logged.
  const unreachable = start('listener (unreachable)', ['listener'], {
    ...common,
    DATABASE_URL: withCredentials(admin, role, DB_PASSWORD, `/${dbName}`).replace(/:\d+\//, `:${await closedPort()}/`),
  });
  const missing = start('listener (missing database)', ['listener'], { ...common, DATABASE_URL: withCredentials(admin, role, DB_PASSWORD, `/${dbName}_missing`) });
  await Promise.all([unreachable.waitForEvent('pg:connection:error', 20_000), missing.waitForEvent('pg:connection:error', 20_000)]);

  // Edges also get the DATABASE_URL (as the cluster harness gives it), which they must never log.
  const edgeEnv = { ...common, DATABASE_URL: databaseUrl, NOTIFIER_AUTH: 'jwt', NOTIFIER_JWT_SECRET: JWT_SECRET };
  edges = await Promise.all(
    [0, 1].map(async (i) => {
      const proc = start(`edge ${i}`, ['edge'], edgeEnv);
      const port = await proc.port();
      return { proc, url: `ws://127.0.0.1:${port}/ws`, http: `http://127.0.0.1:${port}` };
    }),
  );
  for (const e of edges) {
    await waitReady(e.http);
    await waitLeaderSeen(e.http);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await withClient(admin, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${role}`);
  });
});

describe('no secrets in logs or metrics', () => {
  it('a cluster at debug level, used with tokens of every kind in every carrier, never logs a token, a secret or a password', async () => {
    const [e0, e1] = edges as [(typeof edges)[0], (typeof edges)[0]];

    // --- upgrades: valid in every carrier, on both edges ---------------------------------------
    const carriers = {
      query: (url: string, t: string) => ({ url: `${url}?token=${t}`, opts: {} }),
      authorization: (url: string, t: string) => ({ url, opts: { headers: { authorization: `Bearer ${t}` } } }),
      protocol: (url: string, t: string) => ({ url, opts: { protocols: ['notifier.v1', `bearer.${t}`] } }),
    };
    const clients: TestClient[] = [];
    for (const [name, carry] of Object.entries(carriers)) {
      for (const e of [e0, e1]) {
        const c = carry(e.url, await token({ sub: `user-${name}` }));
        const client = await TestClient.connect(c.url, c.opts);
        expect(client.welcome['user_id']).toBe(`user-${name}`);
        await client.subscribe('all');
        clients.push(client);
      }
    }

    // --- upgrades refused: forged, expired, malformed, conflicting, none -------------------------
    const refused: Promise<number>[] = [];
    for (const carry of Object.values(carriers)) {
      for (const bad of [
        await token({ key: WRONG_SECRET }),
        await token({ expiresIn: -120 }),
        `${await token()}x`,
        'not-a-jwt',
        await token({ sub: '' }),
      ]) {
        const c = carry(e0.url, bad);
        refused.push(upgradeStatus(c.url, c.opts));
      }
    }
    const [a, b] = [await token({ sub: 'conflict' }), await token({ sub: 'conflict', expiresIn: 600 })];
    refused.push(upgradeStatus(`${e1.url}?token=${a}`, { headers: { authorization: `Bearer ${b}` } }));
    refused.push(upgradeStatus(e1.url));
    expect(new Set(await Promise.all(refused))).toEqual(new Set([401]));

    // --- refreshes ------------------------------------------------------------------------------
    const [q] = clients as [TestClient];
    q.send({ type: 'refresh', token: await token({ sub: 'user-query', expiresIn: 7200 }) });
    await q.next((m) => m['type'] === 'refreshed');
    for (const bad of [await token({ sub: 'user-query', expiresIn: -120 }), await token({ sub: 'user-query', key: WRONG_SECRET }), 'not-a-jwt']) {
      q.send({ type: 'refresh', token: bad });
      await q.next((m) => m['type'] === 'error' && m['code'] === 'unauthorized');
    }
    // Frames that fail to parse, around a token: the edge must not quote them into its logs.
    const inFrame = await token({ sub: 'user-query' });
    for (const frame of [`{"type":"refresh","token":"${inFrame}"`, `{"type":"refresh","token":["${inFrame}"]}`, `{"type":"refresh","tokn":"${inFrame}"}`, `{"type":"${inFrame}"}`]) {
      q.send(frame);
      await q.next((m) => m['type'] === 'error');
    }
    // A filter that is a token: refused, and not logged either.
    q.send({ type: 'subscribe', filter: inFrame });
    await q.next((m) => m['type'] === 'error');
    // A refresh for another subject closes the connection.
    const other = clients[1] as TestClient;
    other.send({ type: 'refresh', token: await token({ sub: 'someone-else' }) });
    expect(await other.closed()).toBeGreaterThanOrEqual(4500);

    // --- notifications flow through the password-carrying DATABASE_URL --------------------------
    await withClient(databaseUrl, (c) => c.query(`SELECT pg_notify('execution_status_changed', '{"entity_type":"execution","entity_id":7}')`));
    for (const client of clients.filter((c) => c !== other)) {
      const n = await client.first((m) => !('type' in m));
      expect(JSON.stringify(n)).toContain('execution');
    }

    // --- plain HTTP requests with ?token= everywhere --------------------------------------------
    const t = await token();
    for (const base of [e0.http, listenerHttp]) {
      for (const path of ['/ws', '/stats', '/metrics', '/ready', '/health', '/nope', '/api/notify']) {
        await fetch(`${base}${path}?token=${t}`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.text()).catch(() => undefined);
      }
    }

    // --- collect: /metrics of every running process, then every byte they wrote ------------------
    for (const [name, http] of [['edge 0', e0.http], ['edge 1', e1.http], ['listener', listenerHttp]] as const) {
      metricsPages.push({ name, text: await (await fetch(`${http}/metrics`)).text() });
    }
    // The refusals were counted, by reason only.
    const edgeMetrics = `${metricsPages[0]?.text}\n${metricsPages[1]?.text}`;
    for (const reason of ['expired', 'invalid', 'missing']) expect(edgeMetrics).toMatch(new RegExp(`notifier_auth_failures_total\\{reason="${reason}"\\} [1-9]`));

    for (const c of clients) c.close();
    // A graceful stop logs too.
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await eventually(() => outputs.every((o) => o.stdout.length > 0), 5000, 'every process to have written something');

    // The run did go through the paths that log: debug lines, refusals, connection errors.
    const all = outputs.map((o) => o.stdout + o.stderr).join('\n');
    expect(all).toContain('"edge:auth:refused"');
    expect(all).toContain('"pg:connection:error"');
    expect(all).toContain('"leader:listen:success"');
    expect(all.split('\n').length).toBeGreaterThan(50);

    // --- search ---------------------------------------------------------------------------------
    const needles: [string, string][] = [
      ['the JWT secret', JWT_SECRET],
      ['the database password', DB_PASSWORD],
      ['the database password, URL-encoded', encodeURIComponent(DB_PASSWORD)],
      ['the Redis password', REDIS_PASSWORD],
    ];
    for (const [i, tok] of tokens.entries()) {
      needles.push([`token ${i}`, tok]);
      const signature = tok.split('.')[2];
      if (signature !== undefined && signature.length >= 16) needles.push([`token ${i}'s signature`, signature]);
    }
    const patterns: [string, RegExp][] = [
      ['a JWT', /eyJ[\w-]{8,}\.eyJ[\w-]{8,}/],
      ['a token query string', /[?&]token=/i],
      ['a bearer credential', /bearer[ .][\w-]{16,}/i],
    ];
    const sources = [
      ...outputs.flatMap((o) => [
        { name: `${o.name} stdout`, text: o.stdout },
        { name: `${o.name} stderr`, text: o.stderr },
      ]),
      ...metricsPages.map((m) => ({ name: `${m.name} /metrics`, text: m.text })),
    ];
    const findLeaks = (where: { name: string; text: string }[]) => {
      const leaks: string[] = [];
      for (const { name, text } of where) {
        for (const line of text.split('\n')) {
          for (const [what, needle] of needles) if (line.includes(needle)) leaks.push(`${name}: ${what} in: ${line.slice(0, 300)}`);
          for (const [what, re] of patterns) if (re.test(line)) leaks.push(`${name}: ${what} in: ${line.slice(0, 300)}`);
        }
      }
      return leaks;
    };
    // The search finds what it looks for (lines as a careless logger would write them)…
    const probes = [
      JSON.stringify({ msg: `GET /ws?token=${tokens[0]}` }),
      JSON.stringify({ msg: 'refused', signature: tokens[1]?.split('.')[2] }),
      JSON.stringify({ msg: `cannot connect to ${databaseUrl}` }),
      JSON.stringify({ err: `password ${DB_PASSWORD} rejected` }),
      JSON.stringify({ secret: JWT_SECRET }),
      JSON.stringify({ redis: redisUrl }),
    ];
    for (const probe of probes) expect(findLeaks([{ name: 'probe', text: probe }]), probe).not.toEqual([]);
    // …and finds none of it anywhere the processes wrote or served.
    expect(findLeaks(sources)).toEqual([]);
  });
});

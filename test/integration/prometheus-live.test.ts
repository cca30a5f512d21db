/**
 * The dashboard's and the alerts' PromQL against a live Prometheus: a listener and two edges run
 * with traffic flowing, a throw-away Prometheus (Debian's `prometheus`, on a free port, its TSDB
 * in a temp dir) scrapes them every second with deploy/prometheus/alerts.yml loaded, and every
 * expression of deploy/grafana/notifier.json and alerts.yml must parse and return data. A typo or
 * a renamed metric fails here. The test drives every event a queried metric needs to exist
 * (error frames, closes, resumes and resets, a refused upgrade, a refused token, a forbidden
 * subscribe and a token refresh on edges with NOTIFIER_AUTH=jwt, a Redis reconnect), so no query
 * needs an `or vector(0)`.
 *
 * Alert expressions compare against a threshold, so a healthy cluster returns nothing: they are
 * run with each comparison turned into its `bool` form (`x > 1` → `x > bool 1`), which keeps the
 * series and returns 0/1. Each metric an expression names must also have series of its own, so one
 * side of an `or` cannot hide a renamed metric.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { createCluster, metricValue, waitLeaderSeen, waitReady, type Cluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/services.js';
import { JWT_ENV, mintToken, type MintOptions } from '../helpers/tokens.js';
import { TestClient } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/notifier.json');
const PROMETHEUS = process.env['PROMETHEUS'] ?? 'prometheus';

interface Query {
  source: string;
  expr: string;
}

/** Every expression to run: the alerts' (comparisons in bool form) and the dashboard's (variables substituted). */
function queries(): Query[] {
  const groups = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups;
  const alerts = groups.flatMap((g) => g.rules).map((r) => ({ source: `alert ${r.alert}`, expr: r.expr.replace(/\s(==|!=|>=|<=|>|<)\s/g, ' $1 bool ') }));
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { refId: string; expr: string }[] }[] };
  const panels = dash.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      source: `panel "${p.title}" ${t.refId}`,
      expr: t.expr.replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m').replace(/\$\{?(instance|pod)\}?/g, '.*'),
    })),
  );
  return [...alerts, ...panels];
}

/** The metric names an expression selects. */
const metricsOf = (expr: string) => [...new Set(expr.match(/\b(notifier_[a-z0-9_]+|up)\b(?=\s*[{[)])/g) ?? [])];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

let cluster: Cluster;
let prometheus: ChildProcess | undefined;
let prometheusExited: Promise<void> = Promise.resolve();
let promLog = '';
let promUrl = '';
let tmp = '';
let db: pg.Client | undefined;
let traffic: NodeJS.Timeout | undefined;
const clients: TestClient[] = [];
const sockets: WebSocket[] = [];
let edges: { url: string; http: string }[] = [];
let listenerHttp = '';

interface PromResponse {
  status: string;
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

async function promQuery(expr: string): Promise<PromResponse> {
  const body = new URLSearchParams({ query: expr, time: String(Date.now() / 1000) });
  const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', body });
  return (await res.json()) as PromResponse;
}

/** Connects with a token (edges run with NOTIFIER_AUTH=jwt); by default one that may subscribe to anything. */
async function connect(url: string, claim: MintOptions['claim'] = { filters: ['all'] }): Promise<TestClient> {
  const c = await TestClient.connect(url, { headers: { Authorization: `Bearer ${await mintToken({ claim })}` } });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await createCluster();
  const listener = cluster.startListener();
  await listener.waitForEvent('leader:listen:success');
  listenerHttp = `http://127.0.0.1:${await listener.port()}`;
  // The second edge takes 3 connections, so a fourth upgrade is refused (max_connections).
  edges = [await cluster.startEdge(JWT_ENV), await cluster.startEdge({ ...JWT_ENV, NOTIFIER_MAX_CONNECTIONS: '3' })];
  for (const e of edges) {
    await waitReady(e.http);
    await waitLeaderSeen(e.http);
  }

  tmp = mkdtempSync(join(tmpdir(), 'notifier-prom-'));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [ALERTS],
    scrape_configs: [
      { job_name: 'notifier-listener', static_configs: [{ targets: [listenerHttp.slice('http://'.length)], labels: { role: 'listener' } }] },
      { job_name: 'notifier-edge', static_configs: [{ targets: edges.map((e) => e.http.slice('http://'.length)), labels: { role: 'edge' } }] },
    ],
  };
  writeFileSync(join(tmp, 'prometheus.yml'), JSON.stringify(config));
  const proc = spawn(
    PROMETHEUS,
    [`--config.file=${join(tmp, 'prometheus.yml')}`, `--storage.tsdb.path=${join(tmp, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus = proc;
  prometheusExited = new Promise((resolve) => proc.once('close', () => resolve()));
  const spawned = new Promise<void>((resolve, reject) => {
    proc.once('spawn', () => resolve());
    proc.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error(`${PROMETHEUS} not found: install it (Debian: \`apt-get install prometheus\`; .ci/run does it), or set PROMETHEUS to the binary`) : err),
    );
  });
  for (const s of [proc.stdout, proc.stderr]) s.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
  await spawned;
  await eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${promLog}`);
      return (await fetch(`${promUrl}/-/ready`)).ok;
    },
    20_000,
    `prometheus on ${promUrl} to be ready`,
  );

  // Traffic for the whole test: plain NOTIFYs on a configured channel and outbox rows on another.
  const client = new pg.Client({ connectionString: cluster.db.url });
  client.on('error', () => undefined);
  await client.connect();
  db = client;
  let n = 0;
  const send = () => {
    n += 1;
    const payload = JSON.stringify({ entity_type: 'live', entity_id: n, timestamp: new Date().toISOString() });
    client.query(`SELECT pg_notify('execution_created', $1), notifier.publish('live_outbox', $1::jsonb)`, [payload]).catch(() => undefined);
  };
  send();
  traffic = setInterval(send, 200);
});

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  for (const c of clients) c.close();
  for (const s of sockets) s.terminate();
  await db?.end().catch(() => undefined);
  if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
    prometheus.kill('SIGTERM');
    const killer = setTimeout(() => prometheus?.kill('SIGKILL'), 5000);
    await prometheusExited;
    clearTimeout(killer);
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  await cluster?.stop();
});

describe('Prometheus against a running listener and two edges', () => {
  it('every expression of the dashboard and the alerts parses and returns data', async () => {
    // Clients on both edges, subscribed, receiving both kinds of notification.
    const [e1, e2] = edges as [{ url: string; http: string }, { url: string; http: string }];
    const watcher = await connect(e1.url);
    await watcher.subscribe('all');
    const typed = await connect(e2.url);
    await typed.subscribe('entity_type:live');
    await typed.subscribe('notification_type:execution_created');
    await watcher.waitForNotifications(4);
    await typed.waitForNotifications(4);
    // An error frame; a closed connection; a resume that recovers and one that resets.
    watcher.send('not json');
    await watcher.first((m) => m['type'] === 'error' && m['code'] === 'invalid_json');
    const leaving = await connect(e1.url);
    leaving.close();
    await leaving.closed();
    const recovering = await connect(e1.url);
    const firstOffset = String(watcher.notifications[0]?.['offset']);
    expect(await recovering.resume(String(watcher.welcome['epoch']), firstOffset, ['all'])).toMatchObject({ type: 'resumed' });
    const resetting = await connect(e1.url);
    expect(await resetting.resume('another-epoch', '1-0', ['all'])).toMatchObject({ type: 'reset' });
    // Authentication: a refused token (401), a forbidden subscribe, a refresh.
    const forged = new WebSocket(e1.url, { headers: { Authorization: 'Bearer not.a.token' } });
    sockets.push(forged);
    const forgedStatus = await new Promise<number>((resolve) => {
      forged.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      forged.once('open', () => resolve(101));
      forged.on('error', () => undefined);
    });
    expect(forgedStatus).toBe(401);
    const narrow = await connect(e1.url, { filters: ['entity_type:live'] });
    narrow.send({ type: 'subscribe', filter: 'all' });
    await narrow.first((m) => m['type'] === 'error' && m['code'] === 'forbidden');
    watcher.send({ type: 'refresh', token: await mintToken({ claim: { filters: ['all'] } }) });
    await watcher.first((m) => m['type'] === 'refreshed');
    // The second edge at its limit of 3 refuses a fourth upgrade.
    await connect(e2.url);
    await connect(e2.url);
    const refused = new WebSocket(e2.url);
    sockets.push(refused);
    const status = await new Promise<number>((resolve) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('open', () => resolve(101));
      refused.on('error', () => undefined);
    });
    expect(status).toBe(503);
    // A Redis reconnect: drop this cluster's command connections (found by their client name).
    const redis = new Redis(cluster.env['REDIS_URL'] as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const list = (await redis.call('CLIENT', 'LIST')) as string;
      const ids = list
        .split('\n')
        .filter((l) => l.includes(` name=notifier-${cluster.env['NOTIFIER_REDIS_PREFIX']}-command `))
        .map((l) => /\bid=(\d+)/.exec(l)?.[1])
        .filter((id): id is string => id !== undefined);
      expect(ids.length).toBeGreaterThanOrEqual(3);
      for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', id);
    } finally {
      redis.disconnect();
    }
    await eventually(async () => ((await metricValue(e1.http, 'notifier_redis_reconnects_total')) ?? 0) > 0, 15_000, 'the edge to reconnect to Redis');

    // Every query returns data once Prometheus has scraped the above a few times.
    const all = queries();
    expect(all.length).toBeGreaterThan(40);
    const checks = [
      ...all,
      ...[...new Set(all.flatMap((q) => metricsOf(q.expr)))].map((m) => ({ source: `metric ${m}`, expr: `count(${m})` })),
    ];
    const started = Date.now();
    let missing: string[] = [];
    await eventually(
      async () => {
        const answers = await Promise.all(checks.map(async (q) => ({ q, r: await promQuery(q.expr) })));
        const errors = answers.filter(({ r }) => r.status !== 'success');
        // A parse error never fixes itself: fail at once, naming the expression.
        if (errors.length > 0) {
          missing = errors.map(({ q, r }) => `${q.source}: ${q.expr} → ${r.error}`);
          return true;
        }
        missing = answers.filter(({ r }) => (r.data?.result.length ?? 0) === 0).map(({ q }) => `${q.source}: ${q.expr}`);
        return missing.length === 0;
      },
      30_000,
      'every query to return data',
    ).catch(() => undefined);
    console.log(`prometheus-live: ${checks.length} queries returned data ${Date.now() - started} ms after the events`);
    expect(missing, `queries without data (or failing):\n${missing.join('\n')}`).toEqual([]);

    // The rules themselves load and evaluate in Prometheus, and the healthy cluster fires nothing.
    await eventually(
      async () => {
        const res = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
        const rules = res.data.groups.flatMap((g) => g.rules);
        if (rules.length !== 9) throw new Error(`${rules.length} rules loaded`);
        const bad = rules.filter((r) => r.health !== 'ok');
        if (bad.length > 0) throw new Error(JSON.stringify(bad));
        return true;
      },
      10_000,
      'every alert rule to evaluate with health ok',
    );
    const alerts = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: { alertname: string } }[] } };
    expect(alerts.data.alerts.map((a) => a.labels.alertname)).toEqual([]);
    const readiness = await promQuery('sum by (job) (notifier_ready)');
    expect(readiness.data?.result).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ metric: { job: 'notifier-edge' }, value: [expect.any(Number), '2'] }),
        expect.objectContaining({ metric: { job: 'notifier-listener' }, value: [expect.any(Number), '1'] }),
      ]),
    );
  });

  it('notifier_ready follows /ready: 1 on ready processes, 0 on an edge that cannot reach Redis', async () => {
    for (const http of [listenerHttp, ...edges.map((e) => e.http)]) {
      expect((await fetch(`${http}/ready`)).status, http).toBe(200);
      expect(await metricValue(http, 'notifier_ready'), http).toBe(1);
    }
    const cutOff = await cluster.startEdge({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect((await fetch(`${cutOff.http}/ready`)).status).toBe(503);
    expect(await metricValue(cutOff.http, 'notifier_ready')).toBe(0);
  });
});

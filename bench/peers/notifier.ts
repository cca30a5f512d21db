/**
 * The notifier subject: the real path, PostgreSQL NOTIFY → leader listener → Redis (Lua XADD +
 * PUBLISH) → one `notifier edge` process → sockets. It reuses the cluster test harness (a
 * throw-away PostgreSQL, Redis and HAProxy on 127.0.0.1, the built dist/cli.js) with one listener
 * and one edge; clients connect to the edge directly, not through HAProxy.
 *
 * The edge runs with NOTIFIER_AUTH=jwt (issue 14 §1): HS256 by default, ES256 or none on request
 * (`auth`); the subject's `auth` tells the load generator how to mint its clients' tokens.
 *
 * BENCH_PROFILE_DIR=<dir> profiles the edge (cpu-prof.cjs, preloaded) into that directory; the
 * profile is written when the edge exits on SIGTERM at stop().
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startHarness, type Harness } from '../../test/cluster/harness.js';
import { httpGet } from '../../test/cluster/system.js';
import { pidsByCmdline, withChildren } from '../loadgen/measure.js';
import { authSetup, type AuthMode } from '../loadgen/tokens.js';
import { BENCH_CHANNEL, payloadOf, type Subject } from './subject.js';

export interface NotifierOptions {
  /** Extra environment for the edge (e.g. limits). */
  edgeEnv?: Record<string, string>;
  /** Another build's dist/cli.js, and the subject's name for it (baseline.ts). */
  cli?: string;
  name?: string;
  /** NOTIFIER_AUTH=jwt with HS256 tokens (default) or ES256 tokens, or NOTIFIER_AUTH=none. */
  auth?: AuthMode;
  /** NOTIFIER_SCOPE_FIELDS (tenant scopes); unscoped clients' tokens then carry `unscoped`. */
  scopeFields?: string;
  /** The edge runs a full GC on SIGUSR2 (bench/peers/gc-on-signal.cjs): RSS readings without the garbage. */
  gcOnSignal?: boolean;
}

const PROFILER = fileURLToPath(new URL('./cpu-prof.cjs', import.meta.url));
const GC_ON_SIGNAL = fileURLToPath(new URL('./gc-on-signal.cjs', import.meta.url));

async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await httpGet(`${url}/ready`))?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`edge at ${url} not ready within ${timeoutMs} ms`);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function postmasterPid(dataDir: string): number {
  try {
    return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return -1;
  }
}

export async function startNotifier(opts: NotifierOptions = {}): Promise<Subject & { harness: Harness }> {
  const profileDir = process.env['BENCH_PROFILE_DIR'];
  const { edgeEnv: authEnv, auth } = authSetup(opts.auth ?? 'HS256');
  const edgeEnv: Record<string, string> = { ...authEnv, ...(opts.scopeFields !== undefined && { NOTIFIER_SCOPE_FIELDS: opts.scopeFields }), ...opts.edgeEnv };
  if (auth && opts.scopeFields !== undefined) auth.scopesConfigured = true;
  if (profileDir) Object.assign(edgeEnv, { NODE_OPTIONS: `--require ${PROFILER}`, BENCH_PROFILE_DIR: profileDir });
  // The edge runs in its default configuration (its V8 settings are src/v8-defaults.ts's).
  // BENCH_EDGE_NODE_OPTIONS adds node options, e.g. `--max-semi-space-size=16` for Node's own
  // young generation.
  // gcOnSignal: SIGUSR2 makes the edge collect its garbage (gc-on-signal.cjs), for RSS readings of what connections hold.
  if (opts.gcOnSignal) edgeEnv['NODE_OPTIONS'] = `${edgeEnv['NODE_OPTIONS'] ?? ''} --expose-gc --require ${GC_ON_SIGNAL}`.trim();
  // BENCH_EDGE_ENV: more environment for the edge, as JSON (e.g. '{"MALLOC_ARENA_MAX":"2"}'), for experiments.
  Object.assign(edgeEnv, JSON.parse(process.env['BENCH_EDGE_ENV'] ?? '{}') as Record<string, string>);
  const extra = process.env['BENCH_EDGE_NODE_OPTIONS'] ?? '';
  if (extra.trim()) edgeEnv['NODE_OPTIONS'] = `${edgeEnv['NODE_OPTIONS'] ?? ''} ${extra}`.trim();
  const harness = await startHarness({ listeners: 1, edges: 1, env: { LOG_LEVEL: 'info' }, edgeEnv, ...(opts.cli !== undefined && { cli: opts.cli }) });
  const producer = new pg.Client({ connectionString: harness.pg.url });
  producer.on('error', () => undefined);
  try {
    await producer.connect();
  } catch (err) {
    await harness.stop();
    throw err;
  }
  const port = harness.edgePorts[0] ?? 0;
  const sql = `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`;
  let lane: Promise<unknown> = Promise.resolve();
  return {
    harness,
    name: opts.name ?? 'notifier',
    mode: 'notifier',
    host: '127.0.0.1',
    port,
    path: '/ws',
    ...(auth !== undefined && { auth }),
    serverPid: () => harness.edges[0]?.pid ?? -1,
    processes: () => ({
      edge: [harness.edges[0]?.pid ?? -1],
      listener: harness.listeners.map((l) => l.pid),
      redis: pidsByCmdline('redis-server').filter((pid) => cmdline(pid).includes(`:${harness.redis.port}`)),
      postgres: withChildren(postmasterPid(harness.pg.dataDir)),
    }),
    // One statement per batch: one transaction, so PostgreSQL delivers the batch at its commit.
    // Sends queue behind each other on the one connection (as node-postgres would, minus its
    // deprecation warning for overlapping queries).
    send: (items) => {
      const run = () =>
        items.length === 1
          ? producer.query('SELECT pg_notify($1, $2)', [BENCH_CHANNEL, payloadOf(items[0]!)])
          : producer.query(sql, [BENCH_CHANNEL, items.map(payloadOf)]);
      const done = lane.then(run);
      lane = done.catch(() => undefined);
      return done.then(() => undefined);
    },
    restartServer: async () => {
      await harness.killEdge(0, 'SIGKILL');
      await harness.startEdge(0);
      await waitReady(harness.edgeHttp(0));
    },
    stop: async () => {
      await producer.end().catch(() => undefined);
      // SIGTERM first so a --cpu-prof edge writes its profile (it closes its clients with 1012).
      if (profileDir) await harness.killEdge(0, 'SIGTERM');
      await harness.stop();
    },
  };
}

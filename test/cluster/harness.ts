/**
 * A real notifier cluster of processes for fault tests (issue 3, item 5): a throw-away
 * PostgreSQL cluster (initdb on a free port), a throw-away redis-server, optionally a TCP proxy
 * in front of PostgreSQL for the listeners (to cut their link), N listeners, M edges on fixed
 * ports, and HAProxy (round-robin, no stickiness, /ready health checks) in front of the edges.
 * Clients connect and reconnect only through HAProxy (see fleet.ts).
 *
 * Everything runs on 127.0.0.1, under one temp dir, and is stopped by `stop()` — also after a
 * start that failed half-way; if the test process exits or is killed first, an 'exit' hook and a
 * detached reaper process (see REAPER) kill what is left and remove the dir. It does not use the
 * shared DATABASE_URL / REDIS_URL services at all.
 *
 * Needs: /usr/lib/postgresql/<v>/bin (or NOTIFIER_PG_BIN), redis-server and haproxy on this
 * machine (`.ci/run` installs them), and a built dist/ (`npm run build`). Run one file:
 *   npm run build && npx vitest run --project cluster test/cluster/smoke.test.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { spawnNotifier, type NotifierProcess } from '../helpers/processes.js';
import { JWT_ENV } from '../helpers/tokens.js';
import { eventually, withClient } from '../helpers/services.js';
import { OwnedProcess, freePort, httpGet, metricFrom, run } from './system.js';
import { TcpProxy } from './tcp-proxy.js';
import { FLEET_AUTH_ROLES } from './fleet.js';

export { expectedSeqs, mixedFilters, startFleet, type ClientReport, type Fleet, type FleetClient, type FleetOptions, type FleetReport } from './fleet.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const IS_ROOT = process.getuid?.() === 0;

export interface HarnessOptions {
  /** Listener processes (default 2). */
  listeners?: number;
  /** Edge processes (default 3), each on a fixed port listed in HAProxy's config. */
  edges?: number;
  /**
   * Put a TCP proxy between each listener and PostgreSQL (default false): one proxy per
   * listener, so one listener's link can be cut while the others keep theirs.
   */
  pgProxy?: boolean;
  /** redis-server --appendonly yes (default false: no persistence at all). */
  redisAof?: boolean;
  /** Extra redis-server arguments, e.g. ['--appendfsync', 'always']. */
  redisArgs?: string[];
  /** HAProxy mode (default 'http'; WebSocket upgrades pass through either way). */
  lbMode?: 'http' | 'tcp';
  /**
   * HAProxy instances (default 1), each with its own port and the same edges behind it: separate
   * load-balancer nodes, for more clients than one process' file descriptors allow (2 per client).
   */
  lbs?: number;
  /** HAProxy's global maxconn per instance (default 4000); it needs 2 × this in file descriptors. */
  lbMaxconn?: number;
  /**
   * How edges authenticate clients (default 'jwt', as deployed): NOTIFIER_AUTH=jwt with the tests'
   * HS256 secret (test/helpers/tokens.ts JWT_ENV) and the fleet's roles; fleet clients then
   * connect with tokens. 'none': anonymous clients.
   */
  auth?: 'jwt' | 'none';
  /** Environment for every notifier process (after the harness's own). */
  env?: Record<string, string>;
  listenerEnv?: Record<string, string>;
  edgeEnv?: Record<string, string>;
  /** The notifier to run: another build's dist/cli.js (the benchmarks' baseline); default this checkout's. */
  cli?: string;
  /** Wait for a leader, every edge ready and seeing it, and HAProxy marking every edge UP (default true). */
  waitReady?: boolean;
}

export interface PgHandle {
  /** postgresql://postgres@127.0.0.1:<port>/notifier (direct, not through the proxy). */
  url: string;
  port: number;
  /** The data directory (owned by the postgres OS user). */
  dataDir: string;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Runs SQL on the notifier database (a new connection each time). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  /** The last lines of the server log. */
  logTail(lines?: number): string;
}

export interface RedisHandle {
  url: string;
  port: number;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir (AOF data, if any, survives). */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** CONFIG SET args… (e.g. config('client-output-buffer-limit', 'pubsub 4kb 0 0')). */
  config(...args: string[]): Promise<void>;
  readonly running: boolean;
  logTail(lines?: number): string;
}

/** The TCP proxies between the listeners and PostgreSQL, one per listener (by listener index). */
export interface PgProxyHandle {
  /** Port of listener `i`'s proxy. */
  port(listener: number): number;
  /** postgresql://…@127.0.0.1:<proxy port>/notifier: the DATABASE_URL listener `i` uses. */
  url(listener: number): string;
  /**
   * Stops forwarding without closing anything (a silent network partition): for listener
   * `listener` only, or for every listener when omitted. New connections are accepted but never
   * forwarded.
   */
  blackhole(listener?: number): void;
  /** Forwards new connections again (one listener, or all); the black-holed ones are destroyed. */
  restore(listener?: number): void;
  blackholed(listener: number): boolean;
  /** Open connections through listener `i`'s proxy. */
  connections(listener: number): number;
}

export interface LbHandle {
  /** The haproxy process (-1 before it started). */
  readonly pid: number;
  /** ws://127.0.0.1:<port>/ws */
  url: string;
  /** http://127.0.0.1:<port> */
  http: string;
  port: number;
  /** HAProxy's view of each edge (index = edge index): 'UP', 'DOWN', 'UP 1/2', 'no check', … */
  serverStatus(): Promise<string[]>;
  /** Waits until HAProxy reports edge `index` as `state` ('UP' or 'DOWN', transitional states excluded). */
  waitServer(index: number, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  logTail(lines?: number): string;
}

export interface Harness {
  dir: string;
  prefix: string;
  /** NOTIFIER_AUTH of the edges (HarnessOptions.auth). */
  auth: 'jwt' | 'none';
  pg: PgHandle;
  redis: RedisHandle;
  pgProxy: PgProxyHandle | undefined;
  /** Every listener started, by index (killed ones stay in place). */
  listeners: NotifierProcess[];
  /** The current process of each edge slot (startEdge replaces it). */
  edges: NotifierProcess[];
  edgePorts: number[];
  /** The first (with the default `lbs: 1`, the only) HAProxy: lbs[0]. */
  lb: LbHandle;
  /** Every HAProxy instance (`lbs` of them), each balancing over every edge. */
  lbs: LbHandle[];
  /** Environment passed to listeners (with pgProxy, startListener sets DATABASE_URL to the listener's own proxy). */
  listenerEnv: Record<string, string>;
  edgeEnv: Record<string, string>;

  startListener(extraEnv?: Record<string, string>): Promise<NotifierProcess>;
  killListener(index: number, signal?: NodeJS.Signals): Promise<number | null>;
  listenerHttp(index: number): Promise<string>;
  /** Index of the listener whose /metrics shows notifier_leader 1, else -1. */
  leaderIndex(): Promise<number>;
  /** Waits until exactly one running listener leads; returns its index. */
  waitLeader(timeoutMs?: number): Promise<number>;

  /** (Re)starts edge `index` on its fixed port; the previous process of that slot must have exited. */
  startEdge(index: number, extraEnv?: Record<string, string>): Promise<NotifierProcess>;
  killEdge(index: number, signal?: NodeJS.Signals): Promise<number | null>;
  edgeHttp(index: number): string;
  edgeUrl(index: number): string;
  /** Each edge's node id (the prefix of the client_ids it hands out), from its /stats. */
  edgeNodes(): Promise<(string | undefined)[]>;
  /** Every edge answers /ready 200 and every HAProxy has it UP. */
  waitAllEdgesReady(timeoutMs?: number): Promise<void>;
  /** Every edge has heard the leader's heartbeat. */
  waitEdgesSeeLeader(timeoutMs?: number): Promise<void>;

  /** The tail of every process' log, for a failure message. */
  diagnostics(lines?: number): string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Cleanup when the test process ends without calling stop(). Vitest ends its fork workers with
// SIGTERM (then SIGKILL), which runs no 'exit' handler: so each harness also starts a small
// detached reaper that notices its parent is gone and kills what the harness started (the pids
// in <dir>/pids.json, checked against their command line), stops PostgreSQL and removes the dir.

const live = new Set<{ stopSync(): void }>();
let exitHookInstalled = false;
function registerForExit(h: { stopSync(): void }): void {
  live.add(h);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const x of live) {
      try {
        x.stopSync();
      } catch {
        // best effort
      }
    }
  });
}

const REAPER = `
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const [parent, dir, pgStop] = process.argv.slice(1);
const cleanup = () => {
  let tracked = [];
  try { tracked = JSON.parse(fs.readFileSync(dir + '/pids.json', 'utf8')); } catch {}
  for (const { pid, match } of tracked) {
    try {
      if (fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes(match)) process.kill(pid, 'SIGKILL');
    } catch {}
  }
  if (fs.existsSync(dir + '/pgdata/postmaster.pid')) {
    const [cmd, ...args] = JSON.parse(pgStop);
    spawnSync(cmd, args, { stdio: 'ignore', timeout: 15000 });
  }
  fs.rmSync(dir, { recursive: true, force: true });
};
const ppid = process.ppid;
setInterval(() => {
  if (!fs.existsSync(dir)) process.exit(0);
  let alive = process.ppid === ppid;
  try { process.kill(Number(parent), 0); } catch { alive = false; }
  if (!alive) { cleanup(); process.exit(0); }
}, 250);
`;

// ---------------------------------------------------------------------------------------------

function pgBinDir(): string {
  const fromEnv = process.env['NOTIFIER_PG_BIN'];
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  const initdb = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (initdb) return dirname(realpathSync(initdb));
  throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin nor on PATH (install the Debian package "postgresql", or set NOTIFIER_PG_BIN); `.ci/run` does it');
}

/** The haproxy binary; throws saying how to install it when there is none. */
export function haproxyBin(): string {
  if (existsSync('/usr/sbin/haproxy')) return '/usr/sbin/haproxy';
  const found = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  throw new Error('haproxy not found (install the Debian package "haproxy"; `.ci/run` does it)');
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root needs the "postgres" OS user for initdb (the Debian postgresql package creates it)');
  return { uid, gid };
}

/** Runs a PostgreSQL tool as the postgres OS user (initdb refuses root). */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return IS_ROOT ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** The port a notifier process listens on; fails fast (with its output) if it exits first. */
function listening(p: NotifierProcess, name: string, timeoutMs = 20_000): Promise<number> {
  const line = p.waitForLog((l) => l.event === 'edge:listen:success' || l.event === 'listener:http:listening', timeoutMs);
  line.catch(() => undefined);
  const exited = p.exited.then((code) => {
    throw new Error(`${name} (pid ${p.pid}) exited (${code ?? p.child.signalCode}) before listening. Last lines:\n${p.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${p.stderr.slice(-2000)}`);
  });
  exited.catch(() => undefined);
  return Promise.race([line.then((l) => Number(l['port'])), exited]);
}

/**
 * The HAProxy config the deployment uses (deploy/docker-compose.yml mounts this very file), read
 * as a template: the tests run with its timeouts, retries, health checks and balancing, and change
 * only what must differ here.
 */
export const HAPROXY_CONFIG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

/**
 * Renders deploy/haproxy/haproxy.cfg for a test cluster: `maxconn` in `global`, `mode` in
 * `defaults`, the `bind` of `frontend edges_in` and of `listen stats` (127.0.0.1 on the given
 * ports), and the `server` lines of `backend edges` (one per edge port, named e0, e1, …). Every
 * other line is kept as written. Throws if the file no longer has one of those directives, so a
 * change to the deployment's config cannot silently leave the tests on something else.
 */
export function haproxyConfig(o: { mode: 'http' | 'tcp'; port: number; statsPort: number; edgePorts: number[]; maxconn: number }, template = readFileSync(HAPROXY_CONFIG, 'utf8')): string {
  // Each directive to replace: its section, the line(s) it becomes, and whether it must be unique.
  let serversWritten = 0;
  const rules: { section: string; name: string; unique: boolean; replace: (indent: string) => string[]; seen: number }[] = [
    { section: 'global', name: 'maxconn', unique: true, replace: (i) => [`${i}maxconn ${o.maxconn}`], seen: 0 },
    { section: 'defaults', name: 'mode', unique: true, replace: (i) => [`${i}mode ${o.mode}`], seen: 0 },
    { section: 'frontend edges_in', name: 'bind', unique: true, replace: (i) => [`${i}bind 127.0.0.1:${o.port}`], seen: 0 },
    { section: 'listen stats', name: 'bind', unique: true, replace: (i) => [`${i}bind 127.0.0.1:${o.statsPort}`], seen: 0 },
    // The first server line becomes the test's servers; the deployment's others are dropped.
    { section: 'backend edges', name: 'server', unique: false, replace: (i) => (serversWritten++ === 0 ? o.edgePorts.map((p, k) => `${i}server e${k} 127.0.0.1:${p} check`) : []), seen: 0 },
  ];
  let section = '';
  const out: string[] = [];
  for (const line of template.split('\n')) {
    const body = line.trim();
    const indented = /^\s/.test(line);
    if (body !== '' && !body.startsWith('#') && !indented) section = body.replace(/\s+/g, ' ');
    const rule = indented ? rules.find((r) => r.section === section && body.split(/\s+/)[0] === r.name) : undefined;
    if (!rule) {
      out.push(line);
      continue;
    }
    rule.seen++;
    out.push(...rule.replace(/^\s*/.exec(line)?.[0] ?? ''));
  }
  const wrong = rules.filter((r) => r.seen === 0 || (r.unique && r.seen > 1));
  if (wrong.length > 0) {
    const what = wrong.map((r) => `${r.unique ? 'exactly one' : 'a'} "${r.name}" in "${r.section}"`).join(', ');
    throw new Error(`${HAPROXY_CONFIG} must have ${what}: the cluster tests render their HAProxy config from it`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const nListeners = opts.listeners ?? 2;
  const nEdges = opts.edges ?? 3;
  const pgBin = pgBinDir();
  const haproxy = haproxyBin();

  const dir = mkdtempSync(join(tmpdir(), 'notifier-cluster-'));
  const pgIds = IS_ROOT ? postgresIds() : undefined;
  if (pgIds) chownSync(dir, pgIds.uid, pgIds.gid);
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'pgdata');
  const pgLog = join(dir, 'postgres.log');
  const redisDir = join(dir, 'redis');
  const prefix = `c${process.pid}_${randomBytes(4).toString('hex')}`;

  // State the cleanup needs, filled in as things start.
  let pgInitialized = false;
  let redisProc: OwnedProcess | undefined;
  const lbProcs: OwnedProcess[] = [];
  const proxies: TcpProxy[] = [];
  const listeners: NotifierProcess[] = [];
  const edges: NotifierProcess[] = [];
  const allNotifiers: NotifierProcess[] = [];
  let stopped = false;

  const pgCtl = (args: string[], timeoutMs = 60_000) => {
    const [cmd, a] = asPostgres(join(pgBin, 'pg_ctl'), ['-D', dataDir, ...args]);
    return run(cmd, a, { timeoutMs });
  };

  const stopSync = () => {
    for (const p of allNotifiers) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    if (redisProc?.running) redisProc.child.kill('SIGKILL');
    for (const lb of lbProcs) if (lb.running) lb.child.kill('SIGKILL');
    if (pgInitialized && existsSync(join(dataDir, 'postmaster.pid'))) {
      const [cmd, a] = asPostgres(join(pgBin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '10', 'stop']);
      spawnSync(cmd, a, { stdio: 'ignore', timeout: 15_000 });
    }
    rmSync(dir, { recursive: true, force: true });
    if (reaper.exitCode === null && reaper.signalCode === null) reaper.kill('SIGKILL');
  };
  const exitHook = { stopSync };
  registerForExit(exitHook);

  /** Writes the pids the reaper must kill if this process dies. */
  const track = () => {
    if (stopped) return;
    const tracked = [
      ...allNotifiers.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => ({ pid: p.pid, match: 'dist/cli.js' })),
      ...(redisProc?.running ? [{ pid: redisProc.pid, match: 'redis-server' }] : []),
      ...lbProcs.filter((lb) => lb.running).map((lb) => ({ pid: lb.pid, match: 'haproxy' })),
    ];
    try {
      writeFileSync(join(dir, 'pids.json'), JSON.stringify(tracked));
    } catch {
      // the dir is gone: stopping
    }
  };
  const [pgStopCmd, pgStopArgs] = asPostgres(join(pgBin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '10', 'stop']);
  const reaper = spawn(process.execPath, ['-e', REAPER, String(process.pid), dir, JSON.stringify([pgStopCmd, ...pgStopArgs])], {
    detached: true,
    stdio: 'ignore',
  });
  reaper.unref();
  const owned = (p: { exited: Promise<unknown> }) => {
    track();
    void p.exited.then(track);
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    await Promise.all(lbProcs.map((lb, i) => attempt(`haproxy ${i}`, () => lb.kill('SIGKILL'))));
    await Promise.all(allNotifiers.map((p) => attempt(`${p.role} ${p.pid}`, () => p.kill('SIGKILL'))));
    await Promise.all(proxies.map((p, i) => attempt(`pg proxy ${i}`, () => p.close())));
    await attempt('redis', async () => redisProc?.kill('SIGKILL'));
    if (pgInitialized && existsSync(join(dataDir, 'postmaster.pid'))) {
      await attempt('postgres', async () => {
        try {
          await pgCtl(['-m', 'fast', '-w', '-t', '20', 'stop'], 30_000);
        } catch {
          await pgCtl(['-m', 'immediate', '-w', '-t', '10', 'stop'], 15_000);
        }
      });
    }
    rmSync(dir, { recursive: true, force: true });
    if (reaper.exitCode === null && reaper.signalCode === null) reaper.kill('SIGKILL');
    live.delete(exitHook);
    if (errors.length > 0) throw new Error(`cluster harness stop: ${errors.join('; ')}`);
  };

  try {
    // --- ports ---------------------------------------------------------------------------
    const pgPort = await freePort();
    const redisPort = await freePort();
    const lbPort = await freePort();
    const statsPort = await freePort();
    const edgePorts: number[] = [];
    for (let i = 0; i < nEdges; i++) edgePorts.push(await freePort());
    const lbPorts = [{ port: lbPort, statsPort }];
    for (let i = 1; i < (opts.lbs ?? 1); i++) lbPorts.push({ port: await freePort(), statsPort: await freePort() });

    // --- PostgreSQL ----------------------------------------------------------------------
    {
      const [cmd, a] = asPostgres(join(pgBin, 'initdb'), ['-D', dataDir, '--auth=trust', '-U', 'postgres', '--encoding=UTF8', '--no-locale', '--no-sync']);
      await run(cmd, a, { timeoutMs: 60_000 });
      pgInitialized = true;
    }
    const pgOptions = [
      `-p ${pgPort}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${dir}`,
      '-c max_connections=200',
      // Throw-away cluster: durability off for speed (a crash of postgres alone loses nothing).
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
    ].join(' ');
    const pgUrl = `postgresql://postgres@127.0.0.1:${pgPort}/notifier`;
    const pgStart = async () => {
      try {
        await pgCtl(['-l', pgLog, '-w', '-t', '60', '-o', pgOptions, 'start'], 90_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\npostgres log:\n${pgLogTail(30)}`);
      }
    };
    const pgStop = async (mode: 'fast' | 'immediate' = 'fast') => {
      await pgCtl(['-m', mode, '-w', '-t', '30', 'stop'], 40_000);
    };
    const pgLogTail = (n = 30) => {
      const r = spawnSync('tail', ['-n', String(n), pgLog], { encoding: 'utf8' });
      return r.stdout ?? '';
    };
    await pgStart();
    await withClient(`postgresql://postgres@127.0.0.1:${pgPort}/postgres`, (c) => c.query('CREATE DATABASE notifier'));
    await run(process.execPath, [opts.cli ?? CLI, 'migrate'], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], DATABASE_URL: pgUrl, LOG_LEVEL: 'warn' },
      timeoutMs: 60_000,
    });
    const pgHandle: PgHandle = {
      url: pgUrl,
      port: pgPort,
      dataDir,
      stop: pgStop,
      start: pgStart,
      restart: async (mode = 'fast') => {
        await pgStop(mode);
        await pgStart();
      },
      sql: (text, params = []) => withClient(pgUrl, async (c) => (await c.query(text, params)).rows),
      logTail: pgLogTail,
    };

    // --- Redis ---------------------------------------------------------------------------
    const redisArgs = [
      '--port', String(redisPort),
      '--bind', '127.0.0.1',
      '--save', '',
      '--dir', redisDir,
      '--appendonly', opts.redisAof ? 'yes' : 'no',
      '--daemonize', 'no',
      ...(opts.redisArgs ?? []),
    ];
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const redisStart = async () => {
      if (redisProc?.running) throw new Error('redis-server is already running');
      mkdirSync(redisDir, { recursive: true });
      redisProc = new OwnedProcess('redis-server', 'redis-server', redisArgs);
      owned(redisProc);
      await redisProc.waitForOutput(/Ready to accept connections/, 20_000);
    };
    await redisStart();
    const redisHandle: RedisHandle = {
      url: redisUrl,
      port: redisPort,
      kill: async () => {
        await redisProc?.kill('SIGKILL');
      },
      start: redisStart,
      restart: async () => {
        await redisProc?.kill('SIGKILL');
        await redisStart();
      },
      config: async (...args: string[]) => {
        const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
        r.on('error', () => undefined);
        try {
          await r.connect();
          await r.call('CONFIG', 'SET', ...args);
        } finally {
          r.disconnect();
        }
      },
      get running() {
        return redisProc?.running ?? false;
      },
      logTail: (n = 30) => redisProc?.tail(n) ?? '',
    };

    // --- PostgreSQL proxy ----------------------------------------------------------------
    // One per listener, created by startListener (the proxy at index i serves listener i).
    const proxyOf = (i: number) => {
      const p = proxies[i];
      if (!p) throw new Error(`no PostgreSQL proxy for listener ${i} (pgProxy: ${opts.pgProxy === true})`);
      return p;
    };
    const proxyUrl = (port: number) => `postgresql://postgres@127.0.0.1:${port}/notifier`;
    const pgProxyHandle: PgProxyHandle | undefined = opts.pgProxy
      ? {
          port: (i) => proxyOf(i).port,
          url: (i) => proxyUrl(proxyOf(i).port),
          blackhole: (i) => (i === undefined ? proxies.forEach((p) => p.blackhole()) : proxyOf(i).blackhole()),
          restore: (i) => (i === undefined ? proxies.forEach((p) => p.restore()) : proxyOf(i).restore()),
          blackholed: (i) => proxyOf(i).blackholed,
          connections: (i) => proxyOf(i).connections,
        }
      : undefined;

    // --- notifier processes --------------------------------------------------------------
    const common = { REDIS_URL: redisUrl, NOTIFIER_REDIS_PREFIX: prefix, PORT: '0' };
    const listenerEnv: Record<string, string> = { ...common, DATABASE_URL: pgUrl, ...opts.env, ...opts.listenerEnv };
    const auth = opts.auth ?? 'jwt';
    // Edges only: listeners refuse NOTIFIER_AUTH=jwt settings they do not use.
    // A caller that sets NOTIFIER_AUTH itself (the bench: its own keys) configures authentication alone.
    const ownAuth = opts.env?.['NOTIFIER_AUTH'] !== undefined || opts.edgeEnv?.['NOTIFIER_AUTH'] !== undefined;
    const authEnv: Record<string, string> = ownAuth ? {} : auth === 'jwt' ? { ...JWT_ENV, NOTIFIER_AUTH_ROLES: JSON.stringify(FLEET_AUTH_ROLES) } : { NOTIFIER_AUTH: 'none' };
    // HAProxy (127.0.0.1) sends each client's address with the PROXY protocol (deploy/haproxy/haproxy.cfg).
    const edgeEnv = { ...common, DATABASE_URL: pgUrl, NOTIFIER_TRUSTED_PROXIES: '127.0.0.1/32', ...authEnv, ...opts.env, ...opts.edgeEnv };
    const listenerPorts = new Map<NotifierProcess, Promise<number>>();

    let nextListener = 0;
    const startListener = async (extraEnv: Record<string, string> = {}) => {
      const index = nextListener++;
      const env = { ...listenerEnv, ...extraEnv };
      if (opts.pgProxy) {
        const proxy = new TcpProxy({ host: '127.0.0.1', port: pgPort });
        proxies[index] = proxy;
        env['DATABASE_URL'] = proxyUrl(await proxy.listen(0));
      }
      const p = spawnNotifier(['listener'], env, opts.cli);
      allNotifiers.push(p);
      owned(p);
      listeners[index] = p;
      const port = listening(p, `listener ${index}`);
      port.catch(() => undefined);
      listenerPorts.set(p, port);
      await port;
      return p;
    };
    const listenerHttp = async (i: number) => {
      const p = listeners[i];
      if (!p) throw new Error(`no listener ${i}`);
      return `http://127.0.0.1:${await listenerPorts.get(p)}`;
    };
    const running = (p: NotifierProcess | undefined) => p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
    const leaders = async () => {
      const out: number[] = [];
      for (let i = 0; i < listeners.length; i++) {
        if (!running(listeners[i])) continue;
        const res = await httpGet(`${await listenerHttp(i)}/metrics`);
        if (res?.status === 200 && metricFrom(res.text, 'notifier_leader') === 1) out.push(i);
      }
      return out;
    };

    const startEdge = async (i: number, extraEnv: Record<string, string> = {}) => {
      const port = edgePorts[i];
      if (port === undefined) throw new Error(`no edge slot ${i} (the harness has ${nEdges})`);
      if (running(edges[i])) throw new Error(`edge ${i} (pid ${edges[i]?.pid}) is still running: kill it first (uWS binds with SO_REUSEPORT)`);
      const p = spawnNotifier(['edge'], { ...edgeEnv, ...extraEnv, PORT: String(port) }, opts.cli);
      allNotifiers.push(p);
      owned(p);
      edges[i] = p;
      await listening(p, `edge ${i}`);
      return p;
    };
    const edgeHttp = (i: number) => `http://127.0.0.1:${edgePorts[i]}`;

    for (let i = 0; i < nListeners; i++) await startListener();
    await Promise.all(edgePorts.map((_, i) => startEdge(i)));

    // --- HAProxy -------------------------------------------------------------------------
    const startLb = async (k: number, port: number, statsPort: number): Promise<LbHandle> => {
      const cfgPath = join(dir, k === 0 ? 'haproxy.cfg' : `haproxy-${k}.cfg`);
      writeFileSync(cfgPath, haproxyConfig({ mode: opts.lbMode ?? 'http', port, statsPort, edgePorts, maxconn: opts.lbMaxconn ?? 4000 }));
      const check = await run(haproxy, ['-c', '-f', cfgPath], { allowFail: true, timeoutMs: 10_000 });
      if (check.code !== 0) throw new Error(`haproxy rejected its config:\n${check.output}`);
      const lbProc = new OwnedProcess(k === 0 ? 'haproxy' : `haproxy ${k}`, haproxy, ['-db', '-f', cfgPath]);
      lbProcs.push(lbProc);
      owned(lbProc);
      const serverStatus = async () => {
        const res = await httpGet(`http://127.0.0.1:${statsPort}/stats;csv`);
        if (res?.status !== 200) throw new Error(`haproxy stats: ${res?.status ?? 'no answer'}`);
        const [header, ...rows] = res.text.trim().split('\n');
        const cols = (header ?? '').replace(/^# /, '').split(',');
        const svCol = cols.indexOf('svname');
        const stCol = cols.indexOf('status');
        const byName = new Map(rows.map((r) => r.split(',')).filter((r) => r[0] === 'edges').map((r) => [r[svCol], r[stCol] ?? '?']));
        return edgePorts.map((_, i) => byName.get(`e${i}`) ?? '?');
      };
      await eventually(
        async () => {
          if (!lbProc.running) throw new Error('haproxy exited');
          return (await serverStatus()).length === nEdges;
        },
        10_000,
        'haproxy stats page',
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nhaproxy output:\n${lbProc.tail()}`);
      });
      return {
        get pid() {
          return lbProc.pid;
        },
        url: `ws://127.0.0.1:${port}/ws`,
        http: `http://127.0.0.1:${port}`,
        port,
        serverStatus,
        waitServer: async (i, state, timeoutMs = 10_000) => {
          await eventually(async () => (await serverStatus())[i] === state, timeoutMs, `haproxy to mark edge ${i} ${state}`);
        },
        logTail: (n = 30) => lbProc.tail(n),
      };
    };
    const lbs: LbHandle[] = [];
    for (const [k, p] of lbPorts.entries()) lbs.push(await startLb(k, p.port, p.statsPort));
    const lb = lbs[0] as LbHandle;

    const harness: Harness = {
      dir,
      prefix,
      auth,
      pg: pgHandle,
      redis: redisHandle,
      pgProxy: pgProxyHandle,
      listeners,
      edges,
      edgePorts,
      lb,
      lbs,
      listenerEnv,
      edgeEnv,
      startListener,
      killListener: async (i, signal = 'SIGTERM') => {
        const p = listeners[i];
        if (!p) throw new Error(`no listener ${i}`);
        return p.kill(signal);
      },
      listenerHttp,
      leaderIndex: async () => (await leaders())[0] ?? -1,
      waitLeader: async (timeoutMs = 15_000) => {
        const found = await eventually(async () => {
          const l = await leaders();
          return l.length === 1 ? l : undefined;
        }, timeoutMs, 'exactly one leader among the running listeners');
        return found[0] ?? -1;
      },
      startEdge,
      killEdge: async (i, signal = 'SIGTERM') => {
        const p = edges[i];
        if (!p) throw new Error(`no edge ${i}`);
        return p.kill(signal);
      },
      edgeHttp,
      edgeUrl: (i) => `ws://127.0.0.1:${edgePorts[i]}/ws`,
      edgeNodes: async () =>
        Promise.all(
          edgePorts.map(async (_, i) => {
            if (!running(edges[i])) return undefined;
            const res = await httpGet(`${edgeHttp(i)}/stats`);
            if (res?.status !== 200) return undefined;
            return (JSON.parse(res.text) as { node?: string }).node;
          }),
        ),
      waitAllEdgesReady: async (timeoutMs = 20_000) => {
        await eventually(
          async () => {
            const ready = await Promise.all(edgePorts.map(async (_, i) => (await httpGet(`${edgeHttp(i)}/ready`))?.status === 200));
            if (!ready.every(Boolean)) return false;
            for (const l of lbs) if (!(await l.serverStatus()).every((s) => s === 'UP')) return false;
            return true;
          },
          timeoutMs,
          'every edge ready and UP in haproxy',
        );
      },
      waitEdgesSeeLeader: async (timeoutMs = 20_000) => {
        await eventually(
          async () => {
            const seen = await Promise.all(
              edgePorts.map(async (_, i) => {
                const res = await httpGet(`${edgeHttp(i)}/stats`);
                if (res?.status !== 200) return false;
                const s = JSON.parse(res.text) as Record<string, unknown>;
                return s['leader_heartbeat'] === 'fresh' && s['leader'] !== null;
              }),
            );
            return seen.every(Boolean);
          },
          timeoutMs,
          "every edge hearing the leader's heartbeat",
        );
      },
      diagnostics: (n = 15) => {
        const parts: string[] = [];
        const show = (name: string, p: NotifierProcess) =>
          parts.push(`--- ${name} pid ${p.pid} (${running(p) ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`})\n${p.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n')}${p.stderr ? `\nstderr: ${p.stderr.slice(-2000)}` : ''}`);
        listeners.forEach((p, i) => show(`listener ${i}`, p));
        edges.forEach((p, i) => show(`edge ${i} (port ${edgePorts[i]})`, p));
        lbs.forEach((l, k) => parts.push(`--- haproxy${k === 0 ? '' : ` ${k}`}\n${l.logTail(n)}`));
        parts.push(`--- redis\n${redisHandle.logTail(n)}`);
        parts.push(`--- postgres\n${pgLogTail(n)}`);
        return parts.join('\n');
      },
      stop,
    };

    if (opts.waitReady !== false) {
      await harness.waitLeader(20_000);
      await harness.waitAllEdgesReady(20_000);
      await harness.waitEdgesSeeLeader(20_000);
    }
    return harness;
  } catch (err) {
    const extra = [
      ...allNotifiers.map((p) => `--- ${p.role} pid ${p.pid}\n${p.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr.slice(-1000)}`),
      ...lbProcs.map((l) => `--- ${l.name}\n${l.tail(10)}`),
      redisProc ? `--- redis\n${redisProc.tail(10)}` : '',
    ].join('\n');
    await stop().catch(() => undefined);
    throw new Error(`cluster harness failed to start: ${(err as Error).message}\n${extra}`);
  }
}

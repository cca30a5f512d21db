/**
 * As root, PostgreSQL runs as the user `postgres` (see os-user.ts), which must be able to run its
 * binaries. They sit in node_modules, inside the checkout, and a checkout under a directory only
 * its owner may enter (/root, a `mktemp -d` folder, a home directory) hides them from that user.
 * Rather than loosen directories nobody asked us to touch, root copies them once per package
 * version to a directory of its own that every user may read and none but root may write:
 * /var/cache/notifier/<package>@<version>. PostgreSQL finds lib/ and share/ relative to its binary,
 * so the whole tree is copied.
 */
import { spawn } from 'node:child_process';
import { chmod, cp, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { PackagedBinaries, PostgresBinaries } from './binaries.js';
import type { RunAs } from './os-user.js';

export const BINARY_CACHE = '/var/cache/notifier';

/** Binaries `runAs` can run: the package's own where it can, else root's copy of them. */
export async function runnableBinaries(
  pkg: PackagedBinaries,
  runAs: RunAs | undefined,
  logger: Logger,
  cacheRoot = BINARY_CACHE,
): Promise<PostgresBinaries> {
  if (!runAs) return pkg; // PostgreSQL runs as this process's user, who reached node_modules to get here.
  const inPlace = await tryRun(pkg.postgres, runAs);
  if (inPlace === undefined) return pkg;

  const dir = join(cacheRoot, pkg.id.replace(/^@/, '').replace(/[^\w.@-]+/g, '-'));
  const copy: PostgresBinaries = { initdb: join(dir, 'bin', 'initdb'), postgres: join(dir, 'bin', 'postgres') };
  const hint =
    `Install notifier where every user may read it (e.g. under /opt), run notifier as a user other than root, ` +
    `or set DATABASE_URL to your PostgreSQL.`;
  const why = `notifier runs as root, so its PostgreSQL runs as the user "${runAs.user}", which cannot run ${pkg.postgres} (${inPlace})`;
  const started = Date.now();
  let copied = false;
  try {
    if (!(await exists(dir))) {
      await copyTree(pkg.root, cacheRoot, dir);
      copied = true;
    }
  } catch (err) {
    throw new Error(`${why}, and copying the binaries to ${dir} for it failed (${(err as Error).message}). ${hint}`, { cause: err });
  }
  if (copied) {
    logger.info(
      { event: 'embedded:binaries:copied', from: pkg.root, to: dir, user: runAs.user, ms: Date.now() - started },
      `copied the PostgreSQL binaries to ${dir}: the user "${runAs.user}" cannot reach them in ${pkg.root}`,
    );
  }
  await checkRootOnly(cacheRoot);
  await checkRootOnly(dir);
  const fromCopy = await tryRun(copy.postgres, runAs);
  if (fromCopy !== undefined) {
    throw new Error(`${why}, nor its copy in ${dir} (${fromCopy}). Make ${cacheRoot} and the directories above it searchable for every user (or remove ${dir} to copy again). ${hint}`);
  }
  logger.debug({ event: 'embedded:binaries', dir, user: runAs.user }, `the embedded PostgreSQL runs from ${dir}`);
  return copy;
}

/** Copies into a temporary sibling renamed into place: a copy interrupted halfway is never used. */
async function copyTree(from: string, cacheRoot: string, to: string): Promise<void> {
  if ((await mkdir(cacheRoot, { recursive: true })) !== undefined) await chmod(cacheRoot, 0o755);
  const tmp = `${to}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await cp(from, tmp, { recursive: true, verbatimSymlinks: true });
    await readableByAll(tmp);
    await rename(tmp, to).catch((err: NodeJS.ErrnoException) => {
      // Another notifier started at the same moment and put its copy there first.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Directories and executables 0755, other files 0644, whatever the umask and the package's modes were. */
async function readableByAll(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await readableByAll(path);
    else if (entry.isFile()) await chmod(path, ((await lstat(path)).mode & 0o100) !== 0 ? 0o755 : 0o644);
  }
}

/** A directory whose binaries root lets another user run must be root's alone to change. */
async function checkRootOnly(dir: string): Promise<void> {
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(
      `${dir} must be a directory owned by root and writable by root only (it holds the binaries the embedded PostgreSQL runs), ` +
        `but it is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? `owned by uid ${st.uid} with mode ${(st.mode & 0o7777).toString(8)}` : 'not a directory'}: remove it, and notifier copies the binaries again`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Runs `postgres --version` as `runAs`: undefined when it works, else why not. */
function tryRun(postgres: string, runAs: RunAs): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(postgres, ['--version'], { stdio: ['ignore', 'ignore', 'pipe'], uid: runAs.uid, gid: runAs.gid, timeout: 10_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EACCES' ? 'permission denied' : err.message));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(undefined);
      else resolve(stderr.trim().split('\n').slice(-2).join(' ') || (signal ?? `exit code ${code}`));
    });
  });
}

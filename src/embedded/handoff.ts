/**
 * How a PostgreSQL that root runs as another user (see os-user.ts) reaches its data directory,
 * and initdb its password file, when that user may not walk the path to them (a data directory
 * under /root, or a checkout in a `mktemp -d` folder). Root hands them over instead of loosening
 * the directories above: the child starts in the data directory (Node changes directory before
 * it drops root), and PostgreSQL is told that its data directory is /proc/self/cwd, the
 * directory it stands in. Every PostgreSQL process inherits that working directory, and the
 * postmaster's own chdir to its data directory keeps it, so the name means the same in all of
 * them. A file goes over as an inherited descriptor, opened again through /proc/self/fd/N.
 * Linux only (/proc); elsewhere, and for a PostgreSQL running as notifier's own user, paths.
 */
import type { RunAs } from './os-user.js';

export interface DataDirAccess {
  /** The working directory to start PostgreSQL in (undefined: inherit). */
  cwd: string | undefined;
  /** What to pass PostgreSQL as its data directory. */
  path: string;
  /** How a file passed as the child's descriptor `fd` is named to it, when files go over as descriptors. */
  inheritedFile: ((fd: number) => string) | undefined;
}

export function dataDirAccess(dataDir: string, runAs: RunAs | undefined): DataDirAccess {
  if (runAs === undefined || process.platform !== 'linux') return { cwd: undefined, path: dataDir, inheritedFile: undefined };
  return { cwd: dataDir, path: '/proc/self/cwd', inheritedFile: (fd) => `/proc/self/fd/${fd}` };
}

/**
 * Copies of this checkout's installed app (dist/, package.json, migrations/, node_modules/),
 * placed where a test needs them: in a directory only root may enter, or where an unprivileged
 * user can run it. Files are hard-linked where the file system allows (fast, no space), else copied.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `cp -al`, else `cp -a` (another file system): links inside stay links, modes are kept; `from` itself is followed when it is a link (a node_modules linked from elsewhere). */
export function copyTreeLinked(from: string, to: string): void {
  try {
    execFileSync('cp', ['-alH', from, to], { stdio: 'pipe' });
  } catch {
    execFileSync('rm', ['-rf', to]);
    execFileSync('cp', ['-aH', from, to], { stdio: 'pipe' });
  }
}

/** The app installed in `dir` (created, mode 0755); returns the path of its dist/cli.js. */
export function installCopy(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const name of ['dist', 'package.json', 'migrations', 'node_modules']) copyTreeLinked(join(ROOT, name), join(dir, name));
  return join(dir, 'dist', 'cli.js');
}

/**
 * The notifier of another commit, measured in the same run as this checkout's: BENCH_BASELINE
 * names a checkout of it with dist/ built (e.g. `git worktree add /tmp/base <commit>`, link or
 * install its node_modules, `npm run build` there). Scenarios 1 and 3 then add it as a subject
 * named `notifier @<commit>`, so a change's effect is read within one run's conditions.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startNotifier } from './notifier.js';
import type { Subject } from './subject.js';

export function baselineNotifier(): (() => Promise<Subject>) | undefined {
  const dir = process.env['BENCH_BASELINE'];
  if (!dir) return undefined;
  const cli = join(resolve(dir), 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`BENCH_BASELINE=${dir}: no ${cli} (run npm run build there)`);
  let rev = 'baseline';
  try {
    rev = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout: keep the generic name.
  }
  const name = `notifier @${rev}`;
  return () => startNotifier({ cli, name });
}

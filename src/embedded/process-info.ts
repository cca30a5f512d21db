/**
 * What the system says about a process id: whether it runs, when it started and its command
 * line. Linux answers from /proc; elsewhere `ps` gives the command line and start times are
 * unknown (pid checks then fall back to "a process with this id runs").
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Alive and not a zombie (a crashed notifier's orphans may be reaped late, or never, in a container). */
export function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procStat(pid)?.state !== 'Z';
}

/** Start time in clock ticks since boot: with the pid, it names a process even after the pid is reused. */
export function startTimeOf(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    // No /proc (macOS, BSD).
  }
  try {
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function procStat(pid: number): { state: string; startTime: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19]; // field 22 of proc(5), counted from field 3
  return state !== undefined && startTime !== undefined ? { state, startTime } : undefined;
}

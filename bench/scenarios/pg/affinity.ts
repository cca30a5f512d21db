/**
 * CPU affinity for scenario 5's "PostgreSQL on its own core" runs: the source (PostgreSQL and
 * pgbench) on one core, the consumer side (listener, Redis, edge, the client; or the raw LISTEN
 * client) on the other, as in a deployment where the database has its own machine. Backends
 * PostgreSQL forks later inherit the postmaster's affinity.
 */
import { spawnSync } from 'node:child_process';

export const SOURCE_CPU = '0';
export const CONSUMER_CPU = '1';
export const ALL_CPUS = '0-1';

/** Pins every thread of these processes to `cpus` (taskset -a -p); quietly skips gone ones. */
export function pin(pids: readonly number[], cpus: string): void {
  for (const pid of pids) {
    if (pid <= 0) continue;
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
    if (r.error) throw new Error(`taskset not available (util-linux): ${r.error.message}`);
  }
}

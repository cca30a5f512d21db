/**
 * `<data dir>.running.json`, next to the data directory: which notifier runs the embedded
 * PostgreSQL of that directory, and its DATABASE_URL. It is the data directory's lock (a second
 * `notifier start` on it is refused while its holder lives) and how `notifier notify` finds the
 * database. Removed on stop; the file of a holder that died is replaced by the next start.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isRunning, startTimeOf } from './process-info.js';

export interface RunningState {
  pid: number;
  /** Tells a reused pid from its holder; absent where the system does not say. */
  startTime?: string;
  dataDir: string;
  /** Set once PostgreSQL accepts connections. Holds the password: the file is 0600. */
  databaseUrl?: string;
}

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

export function runningStatePath(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}.running.json`);
}

/** The state written by a live notifier for `dataDir` (absolute), or undefined. */
export function readRunningState(dataDir: string): RunningState | undefined {
  const state = readStateFile(runningStatePath(dataDir));
  return state && isLive(state) ? state : undefined;
}

export interface DataDirClaim {
  setDatabaseUrl(url: string): void;
  /** Synchronous, so it also runs in a process 'exit' handler. */
  release(): void;
}

/** Claims `dataDir` (absolute) for this process, or throws DataDirInUseError naming the live holder. */
export function claimDataDir(dataDir: string): DataDirClaim {
  const file = runningStatePath(dataDir);
  const mine: RunningState = { pid: process.pid, startTime: startTimeOf(process.pid), dataDir };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(mine), { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw err;
    }
    const holder = readStateFile(file);
    if (holder && isLive(holder)) {
      throw new DataDirInUseError(
        `the data directory ${dataDir} is in use by another notifier (pid ${holder.pid}). ` +
          'Stop that one first, or set NOTIFIER_DATA_DIR to another directory.',
      );
    }
    rmSync(file, { force: true });
  }
  return {
    setDatabaseUrl(url) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ ...mine, databaseUrl: url }), { mode: 0o600 });
      renameSync(tmp, file);
    },
    release() {
      if (readStateFile(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}

function isLive(state: RunningState): boolean {
  if (state.pid === process.pid || !isRunning(state.pid)) return false;
  const startTime = startTimeOf(state.pid);
  return state.startTime === undefined || startTime === undefined || startTime === state.startTime;
}

/** undefined when missing or unreadable as a state (a file cut short by a crash counts as stale). */
function readStateFile(file: string): RunningState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const state = JSON.parse(text) as RunningState;
    return Number.isInteger(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the embedded `postgres` server: on 127.0.0.1 only, without a Unix socket (nothing to
 * collide with in /tmp or /var/run/postgresql), in its own process group so that a Ctrl-C in the
 * terminal reaches notifier alone: notifier stops PostgreSQL last, after the edge and listener.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../observability/logger.js';
import type { PostgresBinaries } from './binaries.js';
import { dataDirAccess } from './handoff.js';
import type { RunAs } from './os-user.js';

const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export interface PostgresServer {
  readonly pid: number;
  /** Fast shutdown; resolves once the server exited. */
  stop(): Promise<void>;
  /** Synchronous, for a process 'exit' handler: asks for a fast shutdown and returns. */
  stopSoon(): void;
}

export interface StartOptions {
  binaries: PostgresBinaries;
  dataDir: string;
  port: number;
  runAs: RunAs | undefined;
  logger: Logger;
  signal: AbortSignal;
}

export async function startPostgres(o: StartOptions): Promise<PostgresServer> {
  const access = dataDirAccess(o.dataDir, o.runAs);
  const args = ['-D', access.path, '-p', String(o.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'lc_messages=C'];
  const child = spawn(o.binaries.postgres, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    ...(access.cwd !== undefined && { cwd: access.cwd }),
    ...(o.runAs && { uid: o.runAs.uid, gid: o.runAs.gid }),
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close', not 'exit': after the last of its output was read.
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const recent: string[] = [];
  let ready = false;
  let stopping = false;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      if (err === undefined) return resolve();
      signalIfRunning(child, 'SIGINT');
      reject(err);
    };
    const timer = setTimeout(() => settle(new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s: ${tail(recent)}`)), START_TIMEOUT_MS);
    const onAbort = () => settle(new Error('stopped before PostgreSQL was ready'));
    o.signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => settle(new Error(`cannot run ${o.binaries.postgres}: ${err.message}`, { cause: err })));
    void exited.then(({ code, signal }) => settle(new Error(explainEarlyExit(o.port, o.dataDir, code, signal, recent))));
    let buffered = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        o.logger.debug({ event: 'embedded:pg:log' }, line);
        recent.push(line);
        if (recent.length > 20) recent.shift();
        if (!ready && line.includes(READY)) {
          ready = true;
          settle();
        }
      }
    });
  }).catch(async (err: unknown) => {
    if (child.pid !== undefined) await exited;
    throw err;
  });

  void exited.then(({ code, signal }) => {
    if (!stopping) {
      o.logger.error(
        { event: 'embedded:pg:exited', code, signal },
        `the embedded PostgreSQL exited unexpectedly (${signal ?? `exit code ${code}`}): ${tail(recent)}. Stop notifier and start it again.`,
      );
    }
  });
  return {
    pid: child.pid ?? -1,
    stopSoon: () => {
      stopping = true;
      signalIfRunning(child, 'SIGINT');
    },
    stop: async () => {
      stopping = true;
      signalIfRunning(child, 'SIGINT');
      const timer = setTimeout(() => signalIfRunning(child, 'SIGQUIT'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function signalIfRunning(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

function explainEarlyExit(port: number, dataDir: string, code: number | null, signal: NodeJS.Signals | null, recent: string[]): string {
  const log = recent.join('\n');
  const why = signal ?? `exit code ${code}`;
  if (/could not bind .*Address already in use|could not create any TCP\/IP sockets/.test(log)) {
    return `the embedded PostgreSQL could not listen on 127.0.0.1:${port}: the port is in use. Free it, or set NOTIFIER_EMBEDDED_PG_PORT to another port (${why}): ${tail(recent)}`;
  }
  if (/lock file "postmaster.pid" already exists/.test(log)) {
    return `another PostgreSQL runs on ${dataDir} (${why}): stop it, or set NOTIFIER_DATA_DIR to another directory: ${tail(recent)}`;
  }
  return `the embedded PostgreSQL exited before it was ready (${why}): ${tail(recent)}`;
}

/** The server's last lines, errors first: what a user needs to see. */
function tail(lines: string[]): string {
  const errors = lines.filter((l) => /\b(FATAL|PANIC|ERROR):/.test(l));
  return (errors.length > 0 ? errors : lines.slice(-5)).join(' | ') || 'no output';
}

/**
 * Runs `notifier <role>` as a child process (the built dist/cli.js, as users run it), with
 * PORT=0 so each picks a free port, and exposes its JSON log lines to await on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

export class NotifierProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void; reject: (err: Error) => void }[] = [];
  /** Set once the process exited and its output was read: waiting for more lines is pointless then. */
  private ended: string | undefined;

  constructor(readonly role: string, readonly child: ChildProcess) {
    let buf = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          parsed = { msg: line };
        }
        this.logs.push(parsed);
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(parsed)) return true;
          w.resolve(parsed);
          return false;
        });
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    // 'close': after the last of stdout was read, so every line it logged is in `logs`.
    child.once('close', (code, signal) => {
      this.ended = `exited (${signal ?? `exit code ${code}`}) without a matching log line`;
      for (const w of this.waiters) w.reject(new Error(this.describe(this.ended)));
      this.waiters = [];
    });
  }

  private describe(what: string): string {
    return `${this.role} (pid ${this.pid}): ${what}. Last lines:\n${this.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${this.stderr}`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** A log line matching `match`: already seen (from line `from` on) or future. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 15_000, from = 0): Promise<LogLine> {
    const seen = this.logs.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    if (this.ended !== undefined) return Promise.reject(new Error(this.describe(this.ended)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(this.describe(`no matching log line within ${timeoutMs} ms`))), timeoutMs);
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** A log line with this event, from line `from` on (default: any). */
  waitForEvent(event: string, timeoutMs?: number, from = 0): Promise<LogLine> {
    return this.waitForLog((l) => l.event === event, timeoutMs, from);
  }

  /** Log lines with this event seen after `after` lines. */
  eventsSince(event: string, after: number): LogLine[] {
    return this.logs.slice(after).filter((l) => l.event === event);
  }

  async port(): Promise<number> {
    const line = await this.waitForLog((l) => l.event === 'edge:listen:success' || l.event === 'listener:http:listening');
    return Number(line['port']);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** `cli`: another build's dist/cli.js (the benchmarks' baseline checkout). */
export function spawnNotifier(args: string[], env: Record<string, string | undefined>, cli = CLI): NotifierProcess {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new NotifierProcess(args[0] ?? '', child);
}

/** Kills every process still running at the end of a test file. */
export class ProcessGroup {
  private readonly procs: NotifierProcess[] = [];
  spawn(args: string[], env: Record<string, string | undefined>): NotifierProcess {
    const p = spawnNotifier(args, env);
    this.procs.push(p);
    return p;
  }
  async killAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.kill('SIGKILL')));
  }
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the event loop (a test's clients keep running); fails after 30 s. */
export function runToEnd(file: string, argv: string[], env: Record<string, string | undefined>, cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${argv.join(' ')}: still running after 30 s\n${stdout}\n${stderr}`));
    }, 30_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

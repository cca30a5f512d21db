/**
 * Small building blocks for the cluster harness: free ports, commands with a deadline, child
 * processes we own (with their output), HTTP polling. Everything talks to 127.0.0.1 only.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const picked = new Set<number>();

/**
 * The kernel's ephemeral range (outgoing connections take their local port from it). Ports the
 * harness binds again later (an edge restarted on its port, HAProxy's server list) come from
 * below it, so that no outgoing connection of the busy test machine can be holding one.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768;
  }
}

function canBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A TCP port nothing listens on right now (never the same one twice in this process). */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  const low = 15_000;
  for (let attempt = 0; attempt < 100; attempt++) {
    // Below the ephemeral range when it leaves room; else whatever the kernel hands out.
    const candidate = high - low > 1000 ? low + Math.floor(Math.random() * (high - low)) : 0;
    if (picked.has(candidate)) continue;
    const port = await canBind(candidate);
    if (port !== undefined && !picked.has(port)) {
      picked.add(port);
      return port;
    }
  }
  throw new Error('no free port found in 100 attempts');
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs a command to completion (resolves on 'exit', not on stdio close: pg_ctl leaves a daemon
 * behind) and rejects when it fails or outlives `timeoutMs`.
 */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; allowFail?: boolean } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: still running after ${timeoutMs} ms\n${output}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let already-buffered output arrive, without waiting for a daemon to close the pipes.
      setImmediate(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        if (code !== 0 && !opts.allowFail) {
          reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code ?? signal}):\n${output}`));
        } else {
          resolve({ code, signal, output });
        }
      });
    });
  });
}

/** A long-running child process we own (redis-server, haproxy), with the tail of its output. */
export class OwnedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private lines: string[] = [];
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];

  constructor(readonly name: string, cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const onData = (buf: { s: string }) => (chunk: string) => {
      buf.s += chunk;
      let nl;
      while ((nl = buf.s.indexOf('\n')) >= 0) {
        this.line(buf.s.slice(0, nl));
        buf.s = buf.s.slice(nl + 1);
      }
    };
    this.child.stdout?.setEncoding('utf8').on('data', onData({ s: '' }));
    this.child.stderr?.setEncoding('utf8').on('data', onData({ s: '' }));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      this.child.once('error', (err) => {
        this.line(`spawn error: ${err.message}`);
        resolve({ code: -1, signal: null });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines of output (stdout and stderr interleaved). */
  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  /** Resolves with the first output line matching `re` (seen or future); rejects if the process exits first. */
  waitForOutput(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`${this.name} (pid ${this.pid}): ${why} before printing ${re}. Output:\n${this.tail()}`));
      const timer = setTimeout(() => fail(`no such line within ${timeoutMs} ms`), timeoutMs);
      void this.exited.then((e) => {
        clearTimeout(timer);
        fail(`exited (${e.code ?? e.signal})`);
      });
      this.waiters.push({
        re,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private line(l: string): void {
    this.lines.push(l);
    if (this.lines.length > 500) this.lines.splice(0, this.lines.length - 500);
    this.waiters = this.waiters.filter((w) => {
      if (!w.re.test(l)) return true;
      w.resolve(l);
      return false;
    });
  }
}

/** GET with a short timeout; undefined when nothing answers. */
export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, text: await res.text() };
  } catch {
    return undefined;
  }
}

/** One gauge or counter value (first sample) from a Prometheus text page. */
export function metricFrom(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * The parent side of the load generator: forks worker processes (worker.ts), spreads the
 * connections over them (each with its own 127.0.0.x source address, so no run ever waits for
 * ports in TIME_WAIT and no process nears its 20,000-descriptor limit), and collects counts,
 * progress and latency samples.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { indicesOf, type FilterSpec, type LoadMode, type FromWorker, type OpenSpec, type ToWorker, type WorkerReport } from './messages.js';
import { endWorkers } from './children.js';
import type { ClientAuth } from './tokens.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Most connections one worker process is given (RLIMIT_NOFILE is 20,000 per process here). */
export const MAX_PER_WORKER = 5_000;

let sourceSeq = 0;
/** A source address no earlier run of this process used: 127.0.<1..>.<1..250>. */
export function nextSourceAddress(): string {
  const n = sourceSeq++;
  return `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
}

export interface LoadOptions {
  host: string;
  port: number;
  path: string;
  mode: LoadMode;
  connections: number;
  /** Index of the first connection (default 0): a second LoadGen continues where one left off, with distinct filters. */
  firstIndex?: number;
  filters: FilterSpec;
  /** Worker processes (default: enough for MAX_PER_WORKER each, at least 2). */
  workers?: number;
  /** 1 in this many connections is sampled for latency (0: none). */
  sampleEvery?: number;
  /**
   * Put the sampled connections in one more worker of their own (default true when sampling),
   * so that their latency is not the time the busy workers take to get round to them: a
   * worker reading a broadcast frame from 2,500 sockets spends milliseconds on it.
   */
  probeWorker?: boolean;
  concurrency?: number;
  connectTimeoutMs?: number;
  /** Tokens for notifier clients (the subject's `auth`); absent: anonymous. */
  auth?: ClientAuth;
  /** Scope every client to tenant `t<i % tenants>`. */
  tenants?: number;
}

/** The workers' reports summed (same shape as one worker's). */
export type LoadReport = WorkerReport;

interface Worker {
  child: ChildProcess;
  connections: number;
  frames: number;
  open: number;
  exited: Promise<void>;
}

export class LoadGen {
  private readonly workers: Worker[] = [];
  private reportSeq = 0;
  private readonly pendingReports = new Map<number, { left: number; parts: WorkerReport[]; resolve: (r: LoadReport) => void }>();
  private progressWaiters: (() => void)[] = [];

  private constructor(readonly opts: LoadOptions) {}

  /** Forks the workers and opens every connection; resolves once each is ready (subscribed) or failed. */
  /**
   * ms: the slowest worker's first connect → last ready; spanMs: the first worker's first connect →
   * the last worker's last ready (tokens are minted before either starts; mintMs the longest minting).
   */
  static async open(opts: LoadOptions): Promise<{ load: LoadGen; ready: number; failed: number; errors: string[]; ms: number; spanMs: number; mintMs: number }> {
    const load = new LoadGen(opts);
    const n = opts.workers ?? Math.max(2, Math.ceil(opts.connections / MAX_PER_WORKER));
    if (Math.ceil(opts.connections / n) > MAX_PER_WORKER) throw new Error(`${opts.connections} connections need more than ${n} workers`);
    const opened: Promise<FromWorker & { t: 'opened' }>[] = [];
    const sampleEvery = opts.sampleEvery ?? 0;
    const probe = sampleEvery > 0 && (opts.probeWorker ?? true);
    const base = {
      host: opts.host,
      port: opts.port,
      path: opts.path,
      mode: opts.mode,
      filters: opts.filters,
      sampleEvery,
      concurrency: opts.concurrency ?? 64,
      connectTimeoutMs: opts.connectTimeoutMs ?? 60_000,
      ...(opts.auth !== undefined && { auth: opts.auth }),
      ...(opts.tenants !== undefined && { tenants: opts.tenants }),
    };
    let first = opts.firstIndex ?? 0;
    if (probe) {
      const spec: OpenSpec = { ...base, localAddress: nextSourceAddress(), firstIndex: first, count: opts.connections, select: 'sampled' };
      opened.push(load.spawn(spec, indicesOf(spec).length));
    }
    for (let w = 0; w < n; w++) {
      const count = Math.floor(opts.connections / n) + (w < opts.connections % n ? 1 : 0);
      const spec: OpenSpec = {
        ...base,
        port: opts.port,
        path: opts.path,
        localAddress: nextSourceAddress(),
        firstIndex: first,
        count,
        select: probe ? 'unsampled' : 'all',
      };
      first += count;
      opened.push(load.spawn(spec, indicesOf(spec).length));
    }
    const results = await Promise.all(opened);
    return {
      load,
      ready: results.reduce((s, r) => s + r.ready, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      errors: results.flatMap((r) => r.errors),
      ms: Math.max(...results.map((r) => r.ms)),
      spanMs: Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt)),
      mintMs: Math.max(...results.map((r) => r.mintMs)),
    };
  }

  private spawn(spec: OpenSpec, connections: number): Promise<FromWorker & { t: 'opened' }> {
    const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const worker: Worker = {
      child,
      connections,
      frames: 0,
      open: 0,
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    this.workers.push(worker);
    return new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`load generator worker exited early (${code ?? signal})`)));
      child.on('message', (msg: FromWorker) => {
        switch (msg.t) {
          case 'opened':
            worker.open = msg.ready;
            resolve(msg);
            break;
          case 'progress':
            worker.frames = msg.frames;
            worker.open = msg.open;
            this.wakeProgress();
            break;
          case 'report':
            this.onReport(msg);
            break;
        }
      });
      this.post(worker, { t: 'open', spec });
    });
  }

  private post(w: Worker, msg: ToWorker): void {
    if (w.child.connected) w.child.send(msg);
  }

  /**
   * Frames per open connection of the slowest worker, from its latest progress message (every
   * 10 ms): how far the slowest clients have got, for a producer's flow control.
   */
  progress(): number {
    let min = Infinity;
    for (const w of this.workers) if (w.open > 0) min = Math.min(min, w.frames / w.open);
    return min === Infinity ? 0 : min;
  }

  /** Frames received by every connection together, from the latest progress messages. */
  totalProgress(): number {
    let sum = 0;
    for (const w of this.workers) sum += w.frames;
    return sum;
  }

  /** Resolves at the next progress message of any worker (or after `timeoutMs`). */
  nextProgress(timeoutMs = 50): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.progressWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeProgress(): void {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Counts from every worker (exact, not the 10 ms progress); `drain` clears the latency samples;
   * `counts` adds each connection's frames.
   */
  report(drain = false, counts = false): Promise<LoadReport> {
    const id = ++this.reportSeq;
    const live = this.workers.filter((w) => w.child.connected);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingReports.delete(id);
        reject(new Error('load generator workers did not report within 10 s'));
      }, 10_000);
      this.pendingReports.set(id, {
        left: live.length,
        parts: [],
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      for (const w of live) this.post(w, { t: 'report', id, drain, ...(counts && { counts }) });
    });
  }

  private onReport(msg: FromWorker & { t: 'report' }): void {
    const pending = this.pendingReports.get(msg.id);
    if (!pending) return;
    pending.parts.push(msg);
    if (--pending.left > 0) return;
    this.pendingReports.delete(msg.id);
    const closed: Record<string, number> = {};
    for (const p of pending.parts) for (const [code, n] of Object.entries(p.closed)) closed[code] = (closed[code] ?? 0) + n;
    pending.resolve({
      frames: pending.parts.reduce((s, p) => s + p.frames, 0),
      open: pending.parts.reduce((s, p) => s + p.open, 0),
      closed,
      samples: pending.parts.flatMap((p) => p.samples),
      samplesDropped: pending.parts.reduce((s, p) => s + p.samplesDropped, 0),
      unparsed: pending.parts.reduce((s, p) => s + p.unparsed, 0),
      ...(pending.parts.some((p) => p.counts) && { counts: pending.parts.flatMap((p) => p.counts ?? []) }),
    });
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? -1);
  }

  /** Ends every worker (their sockets close with them); SIGKILL after 5 s. */
  async close(): Promise<void> {
    await endWorkers(this.workers, (w) => this.post(w as Worker, { t: 'exit' }));
  }
}

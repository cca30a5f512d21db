/**
 * The parent side of the reconnect-storm load generator: forks storm-worker.ts processes, at most
 * MAX_PER_WORKER clients each, each from its own 127.0.x.y source address and connecting through
 * one of the given load balancers (worker w uses balancer w mod n: a client keeps its balancer
 * across reconnects, as with DNS-pinned LB nodes), and sums what they report.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { own } from '../peers/subject.js';
import { MAX_PER_WORKER, nextSourceAddress } from './pool.js';
import type { Backoff, Check, FromStormWorker, StormProgress, StormReport, StormSpec, ToStormWorker } from './storm-messages.js';
import { endWorkers } from './children.js';
import type { ClientAuth } from './tokens.js';

const WORKER = fileURLToPath(new URL('./storm-worker.ts', import.meta.url));

export interface StormOptions {
  /** The load balancers' addresses; clients are spread evenly over them. */
  balancers: { host: string; port: number }[];
  path: string;
  clients: number;
  filter: string;
  backoff: Backoff;
  capacity: number;
  concurrency?: number;
  connectTimeoutMs?: number;
  openTimeoutMs?: number;
  auth?: ClientAuth;
}

interface Worker {
  child: ChildProcess;
  progress: StormProgress;
  exited: Promise<void>;
}

type Reply = FromStormWorker & { id: number };

export class StormPool {
  private readonly workers: Worker[] = [];
  private seq = 0;
  private readonly pending = new Map<number, { left: number; parts: Reply[]; resolve: (parts: Reply[]) => void }>();

  private constructor() {}

  /** Forks the workers and opens every client; resolves once each is subscribed or failed. */
  static async open(opts: StormOptions): Promise<{ pool: StormPool; ready: number; failed: number; errors: string[]; ms: number }> {
    const pool = new StormPool();
    const n = Math.max(opts.balancers.length, Math.ceil(opts.clients / MAX_PER_WORKER));
    const opened: Promise<FromStormWorker & { t: 'opened' }>[] = [];
    let first = 0;
    for (let w = 0; w < n; w++) {
      const lb = opts.balancers[w % opts.balancers.length];
      if (!lb) throw new Error('no load balancer given');
      const count = Math.floor(opts.clients / n) + (w < opts.clients % n ? 1 : 0);
      const spec: StormSpec = {
        host: lb.host,
        port: lb.port,
        path: opts.path,
        localAddress: nextSourceAddress(),
        firstIndex: first,
        count,
        filter: opts.filter,
        concurrency: opts.concurrency ?? 100,
        connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
        openTimeoutMs: opts.openTimeoutMs ?? 60_000,
        backoff: opts.backoff,
        capacity: opts.capacity,
        ...(opts.auth !== undefined && { auth: opts.auth }),
      };
      first += count;
      opened.push(pool.spawn(spec));
    }
    try {
      const results = await Promise.all(opened);
      return {
        pool,
        ready: results.reduce((s, r) => s + r.ready, 0),
        failed: results.reduce((s, r) => s + r.failed, 0),
        errors: results.flatMap((r) => r.errors),
        ms: Math.max(...results.map((r) => r.ms)),
      };
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  private spawn(spec: StormSpec): Promise<FromStormWorker & { t: 'opened' }> {
    const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    own(child);
    const worker: Worker = {
      child,
      progress: { live: 0, dropped: 0, back: 0 },
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    this.workers.push(worker);
    return new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`storm worker exited early (${code ?? signal})`)));
      child.on('message', (msg: FromStormWorker) => {
        if (msg.t === 'opened') resolve(msg);
        else if (msg.t === 'progress') worker.progress = { live: msg.live, dropped: msg.dropped, back: msg.back };
        else this.onReply(msg);
      });
      this.post(worker, { t: 'open', spec });
    });
  }

  private post(w: Worker, msg: ToStormWorker): void {
    if (w.child.connected) w.child.send(msg);
  }

  /** Every worker's latest progress (at most 100 ms old), summed. */
  progress(): StormProgress {
    const sum: StormProgress = { live: 0, dropped: 0, back: 0 };
    for (const w of this.workers) {
      sum.live += w.progress.live;
      sum.dropped += w.progress.dropped;
      sum.back += w.progress.back;
    }
    return sum;
  }

  /** Sends a request to every worker; resolves with every worker's reply. */
  private ask(make: (id: number) => ToStormWorker, timeoutMs = 30_000): Promise<Reply[]> {
    const id = ++this.seq;
    const live = this.workers.filter((w) => w.child.connected);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`storm workers did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        left: live.length,
        parts: [],
        resolve: (parts) => {
          clearTimeout(timer);
          resolve(parts);
        },
      });
      for (const w of live) this.post(w, make(id));
    });
  }

  private onReply(msg: Reply): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    p.parts.push(msg);
    if (--p.left > 0) return;
    this.pending.delete(msg.id);
    p.resolve(p.parts);
  }

  /** From now on each client's first drop starts its outage. */
  async arm(): Promise<void> {
    await this.ask((id) => ({ t: 'arm', id }));
  }

  /** Missing and duplicated seqs among 0 … produced - 1, over every client. */
  async check(produced: number): Promise<Check> {
    const parts = (await this.ask((id) => ({ t: 'check', id, produced }))) as (Check & Reply)[];
    return { missing: parts.reduce((s, p) => s + p.missing, 0), duplicated: parts.reduce((s, p) => s + p.duplicated, 0) };
  }

  async report(produced: number): Promise<StormReport> {
    const parts = (await this.ask((id) => ({ t: 'report', id, produced }), 60_000)) as (StormReport & Reply)[];
    const sum = (f: (r: StormReport) => number) => parts.reduce((s, p) => s + f(p), 0);
    const merge = (f: (r: StormReport) => Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const p of parts) for (const [k, n] of Object.entries(f(p))) out[k] = (out[k] ?? 0) + n;
      return out;
    };
    return {
      clients: sum((r) => r.clients),
      missing: sum((r) => r.missing),
      duplicated: sum((r) => r.duplicated),
      outages: parts.flatMap((p) => p.outages),
      resumed: sum((r) => r.resumed),
      resets: sum((r) => r.resets),
      resetReasons: merge((r) => r.resetReasons),
      replayed: sum((r) => r.replayed),
      outOfOrder: sum((r) => r.outOfOrder),
      beyond: sum((r) => r.beyond),
      extraDrops: sum((r) => r.extraDrops),
      attempts: sum((r) => r.attempts),
      refused: merge((r) => r.refused),
      failures: merge((r) => r.failures),
      closeCodes: merge((r) => r.closeCodes),
      nodes: merge((r) => r.nodes),
      errors: parts.flatMap((p) => p.errors).slice(0, 10),
    };
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? -1);
  }

  /** Ends every worker (their sockets close with them); SIGKILL after 5 s. */
  async close(): Promise<void> {
    await endWorkers(this.workers, (w) => this.post(w as Worker, { t: 'exit' }));
  }
}

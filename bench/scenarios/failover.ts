/**
 * Scenario 7: failover time over 20 leader kills (issue 4, target 7: p99 failover ≤ 3 s), and the
 * SIGTERM hand-over (10 times).
 *
 * One throw-away cluster (test/cluster/harness.ts): PostgreSQL, Redis, 2 listeners, 1 edge, all on
 * 127.0.0.1, default settings (NOTIFIER_STANDBY_RETRY_MS 1000 ± 25 %). One WebSocket client on the
 * edge subscribed to `all`; a producer commits one outbox notification (`notifier.publish`, with a
 * sequence number) every 10 ms on its own connection, for the whole run.
 *
 * Each round: SIGKILL (or SIGTERM) the current leader, then measure from the signal to
 *   (a) takeover: the standby logging `leader:listen:success` (the time in its log line);
 *   (b) first delivery: the client receiving the first notification whose commit started after
 *       the signal (so it was committed after it);
 *   (c) worst delay: the longest commit → client delay among the notifications committed in the
 *       round (from the stable point before its signal to the stable point before the next one):
 *       what an application sees as the interruption.
 * Then restart the killed listener (it becomes the standby), wait until it stands by and the client
 * has caught up, and go again. At the end every produced sequence number must have arrived exactly
 * once, across all rounds.
 */
import type { BenchContext, Measurement, Scenario } from '../lib/scenario.js';
import pg from 'pg';
import { startHarness, type Harness } from '../../test/cluster/harness.js';
import { singleClientAuth } from '../loadgen/tokens.js';
import { CountingClient } from './pg/client.js';

const ID = '7-failover';
const CHANNEL = 'bench_failover';
const PRODUCE_EVERY_MS = 10;
const TARGET_SECONDS = 3;

interface Round {
  signal: NodeJS.Signals;
  at: number;
  /** Seconds from the signal to (a), (b), (c). */
  takeover: number;
  firstDelivery: number;
  worstDelay: number;
  /** Seconds from the signal until the old leader's process exited. */
  exited: number;
}

export const failover: Scenario = {
  id: ID,
  title: 'Failover time over 20 leader kills (and SIGTERM hand-overs)',
  run,
};

async function run(ctx: BenchContext): Promise<Measurement[]> {
  const kills = Number(process.env['BENCH_FAILOVER_KILLS'] ?? (ctx.quick ? 5 : 20));
  const handovers = Number(process.env['BENCH_FAILOVER_HANDOVERS'] ?? (ctx.quick ? 3 : 10));
  ctx.param?.('rounds', `${kills} × SIGKILL, ${handovers} × SIGTERM of the leader`);
  ctx.param?.('cluster', '2 listeners (default settings: standby retry 1 s ± 25 %), 1 edge, 1 client subscribed to all');
  ctx.param?.('producer', `one outbox notification every ${PRODUCE_EVERY_MS} ms`);
  ctx.log(`[${ID}] starting the cluster (PostgreSQL, Redis, 2 listeners, 1 edge)`);

  const jwt = await singleClientAuth();
  const h = await startHarness({ listeners: 2, edges: 1, env: { LOG_LEVEL: 'info' }, edgeEnv: jwt.edgeEnv });
  const arrivals = new Map<number, number[]>();
  let client: CountingClient | undefined;
  let producer: Producer | undefined;
  try {
    client = await CountingClient.connect({
      url: h.edgeUrl(0),
      filters: ['all'],
      token: jwt.token,
      onNotification: (text, at) => {
        const seq = (JSON.parse(text) as { payload?: { seq?: unknown } }).payload?.seq;
        if (typeof seq !== 'number') return;
        const list = arrivals.get(seq);
        if (list) list.push(at);
        else arrivals.set(seq, [at]);
      },
    });
    producer = new Producer(h.pg.url);
    await producer.start();

    const rounds: Round[] = [];
    const plan: NodeJS.Signals[] = [...Array<NodeJS.Signals>(kills).fill('SIGKILL'), ...Array<NodeJS.Signals>(handovers).fill('SIGTERM')];
    // Each round owns the commits from when the cluster was stable before its signal until the
    // cluster was stable again before the next one.
    const stableAt: number[] = [];
    for (let i = 0; i < plan.length; i++) {
      const signal = plan[i] ?? 'SIGKILL';
      stableAt.push(await waitStable(h, producer, arrivals));
      const r = await round(h, producer, arrivals, signal);
      rounds.push(r);
      ctx.log(`[${ID}] ${signal} ${i + 1}/${plan.length}: takeover ${r.takeover.toFixed(3)} s, first delivery ${r.firstDelivery.toFixed(3)} s, old leader exited after ${r.exited.toFixed(3)} s`);
    }
    stableAt.push(await waitStable(h, producer, arrivals));

    const produced = await producer.stop();
    producer = undefined;
    // Everything committed must arrive: wait until it has, or nothing arrived for 10 s.
    await waitArrived(arrivals, produced, 10_000, 60_000);
    rounds.forEach((r, i) => {
      r.worstDelay = worstDelay(produced.commits, arrivals, stableAt[i] ?? r.at, stableAt[i + 1] ?? Infinity);
      ctx.log(`[${ID}] ${r.signal} ${i + 1}/${plan.length}: worst commit → client delay ${r.worstDelay.toFixed(3)} s`);
    });
    const check = exactlyOnce(produced.count, arrivals);
    ctx.log(
      `[${ID}] produced ${produced.count} notifications over ${plan.length} failovers: ${check.missing.length} missing, ${check.duplicated.length} duplicated` +
        (check.missing.length > 0 ? ` (missing e.g. ${check.missing.slice(0, 10).join(', ')})` : '') +
        (check.duplicated.length > 0 ? ` (duplicated e.g. ${check.duplicated.slice(0, 10).join(', ')})` : ''),
    );
    return measurements(rounds, produced.count, check);
  } finally {
    await producer?.stop().catch(() => undefined);
    client?.close();
    await h.stop().catch((err: Error) => ctx.log(`[${ID}] harness stop: ${err.message}`));
  }
}

/** Kills the leader with `signal`, measures, restarts it as the standby. */
async function round(h: Harness, producer: Producer, arrivals: Map<number, number[]>, signal: NodeJS.Signals): Promise<Round> {
  const leader = await h.waitLeader(20_000);
  const standby = runningListeners(h).find((i) => i !== leader);
  if (standby === undefined) throw new Error('no standby listener running');
  const standbyProc = h.listeners[standby];
  if (!standbyProc) throw new Error(`no listener ${standby}`);
  const fromLine = standbyProc.logs.length;

  const at = Date.now();
  const firstAfter = producer.firstSentAfterNow;
  const exited = h.killListener(leader, signal).then(() => Date.now());

  const listening = await standbyProc.waitForEvent('leader:listen:success', 30_000, fromLine);
  const loggedAt = Date.parse(String(listening['time']));
  const takeover = (Number.isFinite(loggedAt) ? loggedAt : Date.now()) - at;
  const delivered = await waitFirstArrivalFrom(arrivals, firstAfter, 30_000);
  const exitedAt = await exited;

  // The killed listener comes back as the standby.
  const restarted = await h.startListener();
  await restarted.waitForEvent('leader:standby', 30_000);
  return { signal, at, takeover: takeover / 1000, firstDelivery: (delivered - at) / 1000, worstDelay: 0, exited: (exitedAt - at) / 1000 };
}

function runningListeners(h: Harness): number[] {
  return h.listeners.flatMap((p, i) => (p.child.exitCode === null && p.child.signalCode === null ? [i] : []));
}

/**
 * One leader, and the client has everything committed up to now; then a short spell of normal
 * delivery. Returns when the client had caught up.
 */
async function waitStable(h: Harness, producer: Producer, arrivals: Map<number, number[]>): Promise<number> {
  await h.waitLeader(20_000);
  const target = producer.committed - 1;
  if (target >= 0) await waitFirstArrivalFrom(arrivals, target, 30_000);
  const stable = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  return stable;
}

/** Arrival time of the first notification with seq ≥ `from` (deliveries are in commit order here). */
async function waitFirstArrivalFrom(arrivals: Map<number, number[]>, from: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let first = Infinity;
    for (const [seq, at] of arrivals) if (seq >= from && at[0] !== undefined && at[0] < first) first = at[0];
    if (first !== Infinity) return first;
    if (Date.now() > deadline) throw new Error(`no notification with seq ≥ ${from} arrived within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function waitArrived(arrivals: Map<number, number[]>, produced: Produced, idleMs: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = arrivals.size;
  let lastProgress = Date.now();
  while (arrivals.size < produced.count && Date.now() < deadline) {
    if (arrivals.size !== last) {
      last = arrivals.size;
      lastProgress = Date.now();
    }
    if (Date.now() - lastProgress > idleMs) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The longest commit → first arrival delay of the notifications committed in [from, to). */
function worstDelay(commits: number[], arrivals: Map<number, number[]>, from: number, to: number): number {
  let worst = 0;
  commits.forEach((committedAt, seq) => {
    if (committedAt < from || committedAt >= to) return;
    const arrived = arrivals.get(seq)?.[0];
    const delay = arrived === undefined ? Infinity : arrived - committedAt;
    if (delay > worst) worst = delay;
  });
  return worst / 1000;
}

function exactlyOnce(count: number, arrivals: Map<number, number[]>): { missing: number[]; duplicated: number[]; unexpected: number } {
  const missing: number[] = [];
  const duplicated: number[] = [];
  for (let seq = 0; seq < count; seq++) {
    const n = arrivals.get(seq)?.length ?? 0;
    if (n === 0) missing.push(seq);
    if (n > 1) duplicated.push(seq);
  }
  let unexpected = 0;
  for (const seq of arrivals.keys()) if (seq < 0 || seq >= count) unexpected += 1;
  return { missing, duplicated, unexpected };
}

/** Nearest-rank percentile (p in 0..1) of seconds. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
}

function measurements(rounds: Round[], produced: number, check: ReturnType<typeof exactlyOnce>): Measurement[] {
  const out: Measurement[] = [];
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    const rs = rounds.filter((r) => r.signal === signal);
    if (rs.length === 0) continue;
    const subject = signal === 'SIGKILL' ? `notifier, leader SIGKILLed (${rs.length}×)` : `notifier, leader SIGTERMed (${rs.length}×)`;
    const series: [string, string, number[]][] = [
      ['takeover', 'signal → standby logs leader:listen:success', rs.map((r) => r.takeover)],
      ['first delivery', 'signal → client receives the first notification committed after it', rs.map((r) => r.firstDelivery)],
      ['worst delay', 'longest commit → client delay among the notifications committed around the signal', rs.map((r) => r.worstDelay)],
    ];
    for (const [name, what, values] of series) {
      const p50 = percentile(values, 0.5);
      const p99 = percentile(values, 0.99);
      const max = Math.max(...values);
      const targeted = signal === 'SIGKILL' && name !== 'worst delay';
      out.push({ scenario: ID, subject, metric: `${name} p50`, value: r3(p50), unit: 's', note: what });
      out.push({
        scenario: ID,
        subject,
        metric: `${name} p99`,
        value: r3(p99),
        unit: 's',
        ...(targeted ? { target: `≤ ${TARGET_SECONDS} s`, met: p99 <= TARGET_SECONDS } : {}),
        note: `nearest rank of ${values.length} (p99 of ${values.length} is the largest)`,
      });
      out.push({ scenario: ID, subject, metric: `${name} max`, value: r3(max), unit: 's' });
    }
    if (signal === 'SIGTERM') {
      const exits = rs.map((r) => r.exited);
      out.push({ scenario: ID, subject, metric: 'old leader exit p50', value: r3(percentile(exits, 0.5)), unit: 's', note: `signal → process exit; max ${r3(Math.max(...exits))} s` });
    }
  }
  const lost = check.missing.length + check.duplicated.length + check.unexpected;
  out.push({
    scenario: ID,
    subject: `notifier, all ${rounds.length} failovers`,
    metric: 'notifications lost or duplicated',
    value: lost,
    unit: 'notifications',
    target: 'none (every produced seq exactly once)',
    met: lost === 0,
    note: `${produced} produced; ${check.missing.length} missing, ${check.duplicated.length} duplicated, ${check.unexpected} unexpected`,
  });
  return out;
}

// --- the producer ----------------------------------------------------------------------------

interface Produced {
  count: number;
  /** Commit time (reply received, Date.now()) of each seq. */
  commits: number[];
}

/** Commits `notifier.publish(CHANNEL, {"seq": n, …})` every PRODUCE_EVERY_MS on one connection. */
class Producer {
  /** The seq the next statement will carry. */
  nextSeq = 0;
  private inFlight = false;
  /** Seqs committed so far (0..committed-1). */
  committed = 0;
  private readonly commits: number[] = [];
  private readonly client: pg.Client;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(url: string) {
    this.client = new pg.Client({ connectionString: url, application_name: 'bench-failover-producer' });
    this.client.on('error', () => undefined);
  }

  /** The first seq whose statement is sent after now (so it commits after now). */
  get firstSentAfterNow(): number {
    return this.inFlight ? this.nextSeq + 1 : this.nextSeq;
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.loop = this.run();
    this.loop.catch(() => undefined);
  }

  async stop(): Promise<Produced> {
    this.stopping = true;
    await this.loop;
    await this.client.end().catch(() => undefined);
    return { count: this.committed, commits: this.commits };
  }

  private async run(): Promise<void> {
    const t0 = Date.now();
    while (!this.stopping) {
      const seq = this.nextSeq;
      const payload = JSON.stringify({ entity_type: 'failover', entity_id: seq, seq });
      this.inFlight = true;
      await this.client.query('SELECT notifier.publish($1, $2::jsonb)', [CHANNEL, payload]);
      this.inFlight = false;
      this.commits[seq] = Date.now();
      this.committed = seq + 1;
      this.nextSeq = seq + 1;
      const wait = t0 + this.nextSeq * PRODUCE_EVERY_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * One round of the reconnect storm on a running cluster: N clients onto the victim edge (the
 * only one up in HAProxy while they connect), the surviving edges started, a producer at a fixed
 * rate, then the victim is signalled, and the round waits until every client has reconnected
 * through HAProxy and resumed; the producer goes on for a while, then every client's seqs are
 * checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Harness } from '../../test/cluster/harness.js';
import { httpGet } from '../../test/cluster/system.js';
import type { LogLine } from '../../test/helpers/processes.js';
import { eventually } from '../../test/helpers/services.js';
import type { Backoff, StormReport } from '../loadgen/storm-messages.js';
import { StormPool } from '../loadgen/storm-pool.js';
import { CpuMeter, childrenOf, findProcess, metricValue } from './pg/cpu.js';
import { StormProducer } from './reconnect-producer.js';
import type { ClientAuth } from '../loadgen/tokens.js';

export interface RoundOptions {
  signal: NodeJS.Signals;
  clients: number;
  victim: number;
  survivors: number[];
  channel: string;
  /** Notifications per second, before, during and after the storm. */
  rate: number;
  /** Seconds of steady production before the signal, and after every client is back. */
  beforeSeconds: number;
  afterSeconds: number;
  /** Give up waiting for the clients to come back after this long (the round then fails its target). */
  stormTimeoutMs: number;
  backoff: Backoff;
  /** The clients' tokens (the edges run NOTIFIER_AUTH=jwt). */
  auth?: ClientAuth;
  log(message: string): void;
}

export interface RoundResult {
  signal: NodeJS.Signals;
  clients: number;
  /** Date.now() of the signal. */
  signalAt: number;
  /** Seconds to open every client before the round (through HAProxy, onto the victim). */
  openSeconds: number;
  produced: number;
  report: StormReport;
  /** % of one core per process group, from the signal until every client was back (or the timeout). */
  cpu: Record<string, number>;
  cpuWindowSeconds: number;
  /** Clients on each surviving edge afterwards (its /stats connected_clients). */
  spread: number[];
  /** Seconds from the signal until the victim's process had exited. */
  victimExitSeconds: number;
  /** Each surviving edge's event-loop delay over the storm window, seconds (max and p99). */
  loopDelay: { max: number; p99: number }[];
  /** Warnings and errors the surviving edges logged during the round, by event, with a sample message. */
  edgeEvents: Record<string, { count: number; sample: string }>;
}

export async function stormRound(h: Harness, o: RoundOptions): Promise<RoundResult> {
  await onlyVictimUp(h, o);
  const capacity = Math.ceil(o.rate * (o.beforeSeconds + o.afterSeconds + o.stormTimeoutMs / 1000 + 60));
  const opened = await StormPool.open({
    balancers: h.lbs.map((lb) => ({ host: '127.0.0.1', port: lb.port })),
    path: '/ws',
    clients: o.clients,
    filter: 'all',
    backoff: o.backoff,
    capacity,
    ...(o.auth !== undefined && { auth: o.auth }),
  });
  const pool = opened.pool;
  const producer = new StormProducer(h.pg.url, o.channel, o.rate, capacity);
  try {
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${o.clients} clients failed to connect: ${opened.errors.join('; ')}`);
    const onVictim = await connectedClients(h, o.victim);
    o.log(`${o.clients} clients subscribed through ${h.lbs.length} HAProxy in ${(opened.ms / 1000).toFixed(1)} s; the victim edge holds ${onVictim}`);
    if (onVictim !== o.clients) throw new Error(`the victim edge holds ${onVictim} clients, not ${o.clients}`);

    const survivors = [];
    for (const i of o.survivors) survivors.push(await h.startEdge(i));
    await h.waitAllEdgesReady(30_000);
    await producer.start();
    await sleep(o.beforeSeconds * 1000);

    await pool.arm();
    await loopDelays(h, o.survivors); // prom-client restarts its event-loop histogram at every scrape
    const cpu = cpuMeter(h, o, pool);
    cpu.start();
    const victim = h.edges[o.victim];
    if (!victim) throw new Error(`no edge ${o.victim}`);
    const signalAt = Date.now();
    const exited = victim.kill(o.signal).then(() => Date.now());
    o.log(`${o.signal} → edge ${o.victim} (pid ${victim.pid}) at seq ${producer.committed}`);

    const deadline = signalAt + o.stormTimeoutMs;
    let lastLog = Date.now();
    for (;;) {
      const p = pool.progress();
      if (p.back >= o.clients || Date.now() > deadline) break;
      if (Date.now() - lastLog >= 2000) {
        lastLog = Date.now();
        o.log(`  +${((Date.now() - signalAt) / 1000).toFixed(1)} s: ${p.dropped} dropped, ${p.back} back, ${p.live} live`);
      }
      await sleep(20);
    }
    const cpuWindowSeconds = (Date.now() - signalAt) / 1000;
    const cpuUse = cpu.stop();
    const loopDelay = await loopDelays(h, o.survivors);
    const back = pool.progress().back;
    o.log(`${back} of ${o.clients} clients back after ${cpuWindowSeconds.toFixed(1)} s; producing ${o.afterSeconds} s more`);

    await sleep(o.afterSeconds * 1000);
    const produced = await producer.stop();
    await waitDelivered(pool, produced, o.log);
    const report = await pool.report(produced);
    const spread = await Promise.all(o.survivors.map((i) => connectedClients(h, i)));
    const victimExitSeconds = ((await exited) - signalAt) / 1000;
    const edgeEvents = warningsOf(survivors.flatMap((p) => p.logs));
    return { signal: o.signal, clients: o.clients, signalAt, openSeconds: opened.ms / 1000, produced, report, cpu: cpuUse, cpuWindowSeconds, spread, victimExitSeconds, loopDelay, edgeEvents };
  } finally {
    await producer.stop();
    await pool.close();
  }
}

/** The victim edge running and UP in every HAProxy; every other edge stopped and DOWN. */
async function onlyVictimUp(h: Harness, o: RoundOptions): Promise<void> {
  const running = (i: number) => {
    const p = h.edges[i];
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  };
  if (!running(o.victim)) await h.startEdge(o.victim);
  for (const i of o.survivors) if (running(i)) await h.killEdge(i, 'SIGKILL');
  await eventually(async () => (await httpGet(`${h.edgeHttp(o.victim)}/ready`))?.status === 200, 30_000, `edge ${o.victim} ready`);
  for (const lb of h.lbs) {
    await lb.waitServer(o.victim, 'UP', 10_000);
    for (const i of o.survivors) await lb.waitServer(i, 'DOWN', 10_000);
  }
}

/** pino levels: 40 warn, 50 error. */
function warningsOf(lines: LogLine[]): Record<string, { count: number; sample: string }> {
  const out: Record<string, { count: number; sample: string }> = {};
  for (const l of lines) {
    if (Number(l['level']) < 40) continue;
    const key = String(l.event ?? l.msg);
    const e = (out[key] ??= { count: 0, sample: String(l['err'] ?? l.msg ?? '') });
    e.count++;
  }
  return out;
}

async function loopDelays(h: Harness, edges: number[]): Promise<{ max: number; p99: number }[]> {
  return Promise.all(
    edges.map(async (i) => {
      const text = (await httpGet(`${h.edgeHttp(i)}/metrics`, 10_000))?.text ?? '';
      return {
        max: metricValue(text, 'notifier_nodejs_eventloop_lag_max_seconds') ?? Number.NaN,
        p99: metricValue(text, 'notifier_nodejs_eventloop_lag_p99_seconds') ?? Number.NaN,
      };
    }),
  );
}

async function connectedClients(h: Harness, edge: number): Promise<number> {
  const res = await httpGet(`${h.edgeHttp(edge)}/stats`);
  if (res?.status !== 200) return -1;
  return Number((JSON.parse(res.text) as { connected_clients?: unknown }).connected_clients);
}

/** Waits until no client misses a seq, or nothing changed for 10 s (at most 60 s). */
async function waitDelivered(pool: StormPool, produced: number, log: (m: string) => void): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = await pool.check(produced);
  let changedAt = Date.now();
  while (last.missing > 0 && Date.now() < deadline && Date.now() - changedAt < 10_000) {
    await sleep(250);
    const now = await pool.check(produced);
    if (now.missing !== last.missing) changedAt = Date.now();
    last = now;
  }
  if (last.missing > 0) log(`still ${last.missing} seqs missing over all clients after waiting`);
}

function cpuMeter(h: Harness, o: RoundOptions, pool: StormPool): CpuMeter {
  const postmaster = Number((readFileSync(join(h.pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '').trim());
  const redis = findProcess(['redis-server', `:${h.redis.port}`]);
  return new CpuMeter({
    'surviving edges': () => o.survivors.map((i) => h.edges[i]?.pid ?? -1),
    haproxy: () => h.lbs.map((lb) => lb.pid),
    listener: () => h.listeners.map((l) => l.pid),
    redis: () => (redis === undefined ? [] : [redis]),
    postgres: () => [postmaster, ...childrenOf(postmaster)],
    'load generator': () => pool.pids,
    // The victim draining (SIGTERM) or exiting.
    victim: () => [h.edges[o.victim]?.pid ?? -1],
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

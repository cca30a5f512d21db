/**
 * Scenario 5: source throughput, PostgreSQL → one WebSocket client, against raw pgbench NOTIFY in
 * the same run (issue 4, target 5: plain mode ≥ 90 % of raw, outbox ≥ 10k notifications/s).
 *
 * One throw-away cluster (test/cluster/harness.ts): PostgreSQL, Redis, 1 listener, 1 edge, all on
 * 127.0.0.1. pgbench runs 4 clients at max rate for a fixed window; each run is warmed up first.
 *   raw     `SELECT pg_notify('bench_raw', …)` → one plain Node `pg` LISTEN client in this process.
 *           The notifier listener is stopped meanwhile (PostgreSQL wakes every listening backend
 *           on every commit, so an idle listener would slow the baseline). Run before and after
 *           the notifier runs; the baseline is their mean.
 *   plain   the same load on a channel the listener LISTENs → listener → Redis → edge → one client
 *           subscribed to `all`.
 *   outbox  `SELECT notifier.publish('bench_outbox', …::jsonb)` → outbox drain → Redis → edge → client.
 * Measured per run: notifications/s received over the window (and pgbench's sent/s), whether the
 * rest arrives after the load stops (drain), CPU per process from /proc (PostgreSQL's LISTEN and
 * outbox backends apart), each stage's rate (listener received / bus published / edge delivered /
 * client), the listener's bus batch sizes, Redis' time in the publish script, and for the outbox
 * what the drain session was doing (sampled from pg_stat_activity).
 *
 * Knobs (environment, for investigating): BENCH_SOURCE_SECONDS (window, default 15, quick 5);
 * BENCH_SOURCE_CPU_PROF=<dir> (profile the listener, one profile per mode, summarized in the log);
 * BENCH_SOURCE_LISTENER_ENV='{"NOTIFIER_OUTBOX_BATCH_SIZE":"2000"}' (extra listener settings).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { BenchContext, Measurement, Scenario } from '../lib/scenario.js';
import { startHarness, type Harness } from '../../test/cluster/harness.js';
import { singleClientAuth } from '../loadgen/tokens.js';
import { httpGet } from '../../test/cluster/system.js';
import { CountingClient } from './pg/client.js';
import { ALL_CPUS, CONSUMER_CPU, SOURCE_CPU, pin } from './pg/affinity.js';
import { CpuMeter, childrenOf, findProcess, metricSum } from './pg/cpu.js';
import { cpuProfileNodeOptions, formatSummary, profilesIn, summarizeProfile } from './pg/cpuprofile.js';
import { notifyScript, outboxScript, runPgbench, type PgbenchResult } from './pg/pgbench.js';

const ID = '5-source';
const RAW_CHANNEL = 'bench_raw';
const PLAIN_CHANNEL = 'bench_plain';
const OUTBOX_CHANNEL = 'bench_outbox';
const CLIENTS = 4;
const THREADS = 2;
/** A window where processes outside the cluster used more than this (% of one core) is flagged. */
const NOISY_OTHER_CPU = 20;
/** NOTIFIER_OUTBOX_POLL_MS of the polling-only outbox run. */
const POLLING_MS = 50;

interface RunResult {
  label: string;
  sent: number;
  sentPerSecond: number;
  /** Received during the load window, and per second. */
  receivedInWindow: number;
  receivedPerSecond: number;
  /** Received in total once the drain ended. */
  received: number;
  /** From the end of the load to the last notification, when all arrived; else undefined. */
  drainSeconds: number | undefined;
  windowSeconds: number;
  /** % of one core, per process group (see CpuMeter). */
  cpu: Record<string, number>;
  /** Per-second rates of each stage over the window (notifier runs). */
  stages?: { listenerReceived: number; busPublished: number; edgeDelivered: number };
  /** Mean notifications per bus round trip during the window. */
  meanBatch?: number;
  /** Redis time in the publish script: µs per call and per notification. */
  redisScript?: { usPerCall: number; usPerItem: number };
  /** notifier.outbox rows left when the load stopped, and the dead tuples then. */
  backlogAtEnd?: number;
  deadTuples?: number;
  /** Share of samples of the outbox drain session, by state (outbox run). */
  drainStates?: Record<string, number>;
}

export const source: Scenario = {
  id: ID,
  title: 'Source throughput: PostgreSQL → one client (plain NOTIFY and outbox) vs raw pgbench NOTIFY',
  run,
};

async function run(ctx: BenchContext): Promise<Measurement[]> {
  const seconds = Number(process.env['BENCH_SOURCE_SECONDS'] ?? (ctx.quick ? 5 : 15));
  const warmup = ctx.quick ? 2 : 4;
  const profileDir = process.env['BENCH_SOURCE_CPU_PROF'];
  const scripts = mkdtempSync(join(tmpdir(), 'notifier-bench-source-'));
  const listenerEnv: Record<string, string> = {
    NOTIFIER_CHANNELS: PLAIN_CHANNEL,
    ...(JSON.parse(process.env['BENCH_SOURCE_LISTENER_ENV'] ?? '{}') as Record<string, string>),
  };
  const profileEnv = (mode: string): Record<string, string> => {
    if (!profileDir) return {};
    const dir = join(profileDir, mode);
    mkdirSync(dir, { recursive: true });
    return { NODE_OPTIONS: cpuProfileNodeOptions(dir) };
  };
  ctx.param?.('pgbench', `${CLIENTS} clients, ${THREADS} threads, max rate`);
  ctx.param?.('window', `${seconds} s (after a ${warmup} s warm-up)`);
  ctx.param?.('cluster', '1 listener, 1 edge, 1 client subscribed to all');
  ctx.log(`[${ID}] starting the cluster (PostgreSQL, Redis, 1 listener, 1 edge); window ${seconds} s, pgbench ${CLIENTS} clients`);

  const jwt = await singleClientAuth();
  let h: Harness;
  try {
    h = await startHarness({ listeners: 1, edges: 1, env: { LOG_LEVEL: 'info' }, listenerEnv, edgeEnv: jwt.edgeEnv });
  } catch (err) {
    rmSync(scripts, { recursive: true, force: true });
    throw err;
  }
  let client: CountingClient | undefined;
  const redis = new Redis(h.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    client = await CountingClient.connect({ url: h.edgeUrl(0), filters: ['all'], token: jwt.token });
    const postmaster = Number((readFileSync(join(h.pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '').trim());
    const redisPid = findProcess(['redis-server', `:${h.redis.port}`]);
    let pgbenchPid = -1;
    const env: Env = {
      h,
      ctx,
      redis,
      client,
      listener: -1,
      pinned: false,
      pgbench: (name, script, secs, pgOptions) =>
        runPgbench({
          pgOptions,
          port: h.pg.port,
          database: 'notifier',
          script,
          dir: scripts,
          name,
          clients: CLIENTS,
          threads: THREADS,
          seconds: secs,
          onSpawn: (pid) => {
            pgbenchPid = pid;
            if (env.pinned) pin([pid], SOURCE_CPU);
          },
        }),
      groups: (listenBackends, outboxBackends, listener) => ({
        'pg LISTEN backend': () => listenBackends,
        'pg outbox backend': () => outboxBackends,
        'pg others': () => [postmaster, ...childrenOf(postmaster)].filter((p) => !listenBackends.includes(p) && !outboxBackends.includes(p)),
        pgbench: () => [pgbenchPid],
        listener: () => (listener === undefined ? [] : [listener]),
        redis: () => (redisPid ? [redisPid] : []),
        edge: () => [h.edges[0]?.pid ?? -1],
        'bench process': () => [process.pid],
      }),
    };
    const restartListener = async (extra: Record<string, string>) => {
      const current = await h.leaderIndex();
      if (current >= 0) await h.killListener(current, 'SIGTERM');
      env.listener = h.listeners.indexOf(await h.startListener({ ...listenerEnv, ...extra }));
      await h.waitLeader(20_000);
      await h.waitEdgesSeeLeader(20_000);
    };
    const stopListener = async () => {
      const current = await h.leaderIndex();
      if (current >= 0) await h.killListener(current, 'SIGTERM');
    };

    await h.waitLeader(20_000);
    await stopListener();
    const raw1 = await rawRun(env, seconds, warmup);

    await restartListener(profileEnv('plain'));
    const plain = await notifierRun(env, 'notifier plain', notifyScript(PLAIN_CHANNEL), seconds, warmup);
    const plainDrain = await plainBacklogDrain(env, 2);

    await restartListener(profileEnv('outbox'));
    const outbox = await notifierRun(env, 'notifier outbox', outboxScript(OUTBOX_CHANNEL), seconds, warmup);
    // The documented mode for write-heavy databases: no wake-up NOTIFY per commit, the drain polls.
    await restartListener({ NOTIFIER_OUTBOX_POLL_MS: String(POLLING_MS) });
    const polling = await notifierRun(env, 'notifier outbox, polling only', outboxScript(OUTBOX_CHANNEL), seconds, warmup, '-c notifier.wakeup=off');
    await stopListener();
    const outboxDrain = await outboxBacklogDrain(env, listenerEnv, ctx.quick ? 3 : 5);

    await stopListener();
    const raw2 = await rawRun(env, seconds, warmup);

    // The same two runs with PostgreSQL and pgbench on one core and the consumers on the other.
    const pinAll = (source: string, consumer: string) => {
      pin([postmaster, ...childrenOf(postmaster)], source);
      pin([process.pid, redisPid ?? -1, h.edges[0]?.pid ?? -1, h.listeners[env.listener]?.pid ?? -1], consumer);
    };
    let rawPinned: RunResult;
    let plainPinned: RunResult;
    env.pinned = true;
    try {
      pinAll(SOURCE_CPU, CONSUMER_CPU);
      rawPinned = await rawRun(env, seconds, warmup);
      await restartListener({});
      pinAll(SOURCE_CPU, CONSUMER_CPU);
      plainPinned = await notifierRun(env, 'notifier plain', notifyScript(PLAIN_CHANNEL), seconds, warmup);
    } finally {
      env.pinned = false;
      pinAll(ALL_CPUS, ALL_CPUS);
    }

    if (profileDir) {
      for (const mode of ['plain', 'outbox']) {
        for (const f of profilesIn(join(profileDir, mode))) ctx.log(`[${ID}] listener profile (${mode}): ${formatSummary(summarizeProfile(f, 20))}`);
      }
    }
    explain(ctx, [raw1, raw2], plain, outbox, rawPinned, plainPinned, polling);
    return [...measurements(raw1, raw2, plain, outbox), pollingMeasurement(polling), ...pinnedMeasurements(rawPinned, plainPinned), ...drainMeasurements(plainDrain, outboxDrain)];
  } finally {
    client?.close();
    redis.disconnect();
    await h.stop().catch((err: Error) => ctx.log(`[${ID}] harness stop: ${err.message}`));
    rmSync(scripts, { recursive: true, force: true });
  }
}

interface Env {
  h: Harness;
  ctx: BenchContext;
  redis: Redis;
  client: CountingClient;
  /** Index (in h.listeners) of the running listener. */
  listener: number;
  /** PostgreSQL and pgbench on one core, the consumers on the other (see pg/affinity.ts). */
  pinned: boolean;
  pgbench: (name: string, script: string, seconds: number, pgOptions?: string) => Promise<PgbenchResult>;
  groups: (listenBackends: number[], outboxBackends: number[], listenerPid?: number) => Record<string, () => number[]>;
}

async function rawRun(env: Env, seconds: number, warmup: number): Promise<RunResult> {
  const { h, ctx } = env;
  const app = 'bench-raw-listen';
  const c = new pg.Client({ connectionString: h.pg.url, application_name: app });
  c.on('error', () => undefined);
  await c.connect();
  let count = 0;
  let lastAt = 0;
  c.on('notification', () => {
    count += 1;
    lastAt = Date.now();
  });
  try {
    await c.query(`LISTEN ${RAW_CHANNEL}`);
    const w = await env.pgbench('raw-warmup', notifyScript(RAW_CHANNEL), warmup);
    await waitFor(() => count, w.processed, 3000, 30_000);
    const base = count;
    const meter = new CpuMeter(env.groups(await backendPids(h, app), []));
    meter.start();
    const r = await env.pgbench('raw', notifyScript(RAW_CHANNEL), seconds);
    const inWindow = count - base;
    const cpu = meter.stop();
    const all = await waitFor(() => count - base, r.processed, 5000, 60_000);
    const result = summarize('pgbench NOTIFY → pg LISTEN', r, inWindow, count - base, all ? lastAt : undefined, cpu);
    ctx.log(`[${ID}] ${describe(result)}`);
    return result;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function notifierRun(env: Env, label: string, script: string, seconds: number, warmup: number, pgOptions?: string): Promise<RunResult> {
  const { h, ctx, client } = env;
  const outbox = label.includes('outbox');
  const w = await env.pgbench(`${outbox ? 'outbox' : 'plain'}-warmup`, script, warmup, pgOptions);
  await client.waitForCount(client.count + w.processed, 3000, 60_000);
  await waitOutboxEmpty(h, 30_000);
  // A fresh table for the measured window (the warm-up left dead tuples behind).
  if (outbox) await h.pg.sql('VACUUM notifier.outbox');

  const listenerPid = h.listeners[env.listener]?.pid;
  const meter = new CpuMeter(env.groups(await backendPids(h, 'notifier-listener'), await backendPids(h, 'notifier-outbox'), listenerPid));
  const sampler = outbox ? sampleSessionStates(h.pg.url, 'notifier-outbox') : undefined;
  const base = client.count;
  const s0 = await stageCounters(env);
  meter.start();
  const r = await env.pgbench(outbox ? 'outbox' : 'plain', script, seconds, pgOptions);
  const inWindow = client.count - base;
  const cpu = meter.stop();
  const s1 = await stageCounters(env);
  const drainStates = await sampler?.stop();
  const table = outbox
    ? (await h.pg.sql<{ n: string; dead: string }>(
        `SELECT (SELECT count(*) FROM notifier.outbox) AS n, (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'notifier.outbox'::regclass) AS dead`,
      ))[0]
    : undefined;
  const all = await client.waitForCount(base + r.processed, 5000, 120_000);

  const result = summarize(label, r, inWindow, client.count - base, all ? client.lastAt : undefined, cpu);
  const per = (k: keyof StageCounters) => (s1[k] - s0[k]) / result.windowSeconds;
  result.stages = { listenerReceived: per('listenerReceived'), busPublished: per('busPublished'), edgeDelivered: per('edgeDelivered') };
  const batches = s1.batches - s0.batches;
  if (batches > 0) result.meanBatch = (s1.batchItems - s0.batchItems) / batches;
  const calls = s1.scriptCalls - s0.scriptCalls;
  if (calls > 0 && batches > 0) {
    const us = s1.scriptUsec - s0.scriptUsec;
    result.redisScript = { usPerCall: us / calls, usPerItem: us / (s1.batchItems - s0.batchItems) };
  }
  if (table) {
    result.backlogAtEnd = Number(table.n);
    result.deadTuples = Number(table.dead);
  }
  result.drainStates = drainStates;
  ctx.log(`[${ID}] ${describe(result)}`);
  return result;
}

interface DrainResult {
  label: string;
  backlog: number;
  arrived: number;
  seconds: number;
  perSecond: number;
  caveat?: string;
}

/**
 * Capacity of the plain path when it does not compete with the load for CPU: the listener is
 * paused (SIGSTOP) while pgbench sends for a few seconds (PostgreSQL queues the notifications
 * for its session), then resumed: the rate at which the backlog reaches the client. The pause
 * stays below the listener's query timeout (3 s) and session timeout (8 s), and the backlog
 * below NOTIFIER_PLAIN_QUEUE_LIMIT (100k).
 */
async function plainBacklogDrain(env: Env, seconds: number): Promise<DrainResult> {
  const { h, ctx, client } = env;
  const proc = h.listeners[env.listener];
  if (!proc) throw new Error('no listener');
  const base = client.count;
  const logFrom = proc.logs.length;
  proc.child.kill('SIGSTOP');
  let r: PgbenchResult;
  let resumedAt: number;
  try {
    r = await env.pgbench('plain-backlog', notifyScript(PLAIN_CHANNEL), seconds);
  } finally {
    resumedAt = Date.now();
    proc.child.kill('SIGCONT');
  }
  await client.waitForCount(base + r.processed, 3000, 60_000);
  const result = drainResult('notifier plain', r.processed, client.count - base, (client.lastAt - resumedAt) / 1000);
  if (proc.eventsSince('leader:released', logFrom).length > 0) result.caveat = 'the listener stepped down after the pause';
  ctx.log(`[${ID}] ${result.label}: backlog of ${r.processed} NOTIFYs (listener paused) reached the client at ${k(result.perSecond)}/s (${result.arrived} arrived in ${result.seconds.toFixed(2)} s)`);
  return result;
}

/** Same for the outbox: rows written while no listener runs, drained by a listener started afterwards. */
async function outboxBacklogDrain(env: Env, listenerEnv: Record<string, string>, seconds: number): Promise<DrainResult> {
  const { h, ctx, client } = env;
  const r = await env.pgbench('outbox-backlog', outboxScript(OUTBOX_CHANNEL), seconds);
  await h.pg.sql('VACUUM notifier.outbox');
  const base = client.count;
  const proc = await h.startListener(listenerEnv);
  env.listener = h.listeners.indexOf(proc);
  const listening = await proc.waitForEvent('leader:listen:success', 30_000);
  const from = Date.parse(String(listening['time']));
  await client.waitForCount(base + r.processed, 3000, 120_000);
  const result = drainResult('notifier outbox', r.processed, client.count - base, (client.lastAt - from) / 1000);
  ctx.log(`[${ID}] ${result.label}: backlog of ${r.processed} outbox rows reached the client at ${k(result.perSecond)}/s (${result.arrived} arrived in ${result.seconds.toFixed(2)} s from leader:listen:success)`);
  return result;
}

function drainResult(label: string, backlog: number, arrived: number, seconds: number): DrainResult {
  return { label, backlog, arrived, seconds, perSecond: arrived / seconds };
}

function drainMeasurements(plain: DrainResult, outbox: DrainResult): Measurement[] {
  const m = (d: DrainResult, what: string): Measurement => ({
    scenario: ID,
    subject: d.label,
    metric: 'backlog drain, no concurrent load',
    value: Math.round(d.perSecond),
    unit: '/s',
    note: `${what}: ${d.arrived}/${d.backlog} arrived in ${d.seconds.toFixed(2)} s${d.arrived < d.backlog ? ' (NOT all)' : ''}${d.caveat ? `; ${d.caveat}` : ''}`,
  });
  return [m(plain, 'NOTIFYs queued in PostgreSQL while the listener was paused (SIGSTOP), then resumed'), m(outbox, 'rows written while no listener ran, drained by one started afterwards')];
}

function summarize(label: string, r: PgbenchResult, inWindow: number, received: number, lastAt: number | undefined, cpu: Record<string, number>): RunResult {
  const windowSeconds = (r.endedAt - r.startedAt) / 1000;
  return {
    label,
    sent: r.processed,
    sentPerSecond: r.processed / windowSeconds,
    receivedInWindow: inWindow,
    receivedPerSecond: inWindow / windowSeconds,
    received,
    drainSeconds: lastAt === undefined ? undefined : Math.max(0, (lastAt - r.endedAt) / 1000),
    windowSeconds,
    cpu,
  };
}

// --- reporting -------------------------------------------------------------------------------

const k = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));

function cpuText(cpu: Record<string, number>): string {
  return Object.entries(cpu)
    .filter(([name, v]) => v >= 1 || name === 'machine')
    .map(([name, v]) => `${name} ${v.toFixed(0)}`)
    .join(', ');
}

/**
 * CPU time per notification of each process group over the window (µs): independent of how busy
 * the machine was, unlike the rates. PostgreSQL and pgbench per notification sent, the rest per
 * notification received.
 */
function costPerNotification(r: RunResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pct] of Object.entries(r.cpu)) {
    if (name === 'machine' || name === 'other' || name === 'steal' || pct < 1) continue;
    const n = name.startsWith('pg') || name === 'irq' ? r.sent : r.receivedInWindow;
    if (n > 0) out[name] = ((pct / 100) * r.windowSeconds * 1e6) / n;
  }
  return out;
}

function costText(r: RunResult): string {
  return Object.entries(costPerNotification(r))
    .map(([name, us]) => `${name} ${us.toFixed(1)}`)
    .join(', ');
}

function drainText(r: RunResult): string {
  return r.drainSeconds === undefined ? `NOT all arrived (${r.received}/${r.sent})` : `all ${r.sent} arrived, the last ${r.drainSeconds.toFixed(2)} s after the load stopped`;
}

function describe(r: RunResult): string {
  const parts = [
    `${r.label}: sent ${k(r.sentPerSecond)}/s, received ${k(r.receivedPerSecond)}/s over ${r.windowSeconds.toFixed(1)} s; ${drainText(r)}`,
    `CPU (% of one core): ${cpuText(r.cpu)}`,
  ];
  parts.push(`CPU µs per notification: ${costText(r)}`);
  if (r.stages) parts.push(`stages/s: listener got ${k(r.stages.listenerReceived)}, bus published ${k(r.stages.busPublished)}, edge delivered ${k(r.stages.edgeDelivered)}`);
  if (r.meanBatch !== undefined) parts.push(`mean bus batch ${r.meanBatch.toFixed(1)}`);
  if (r.redisScript) parts.push(`Redis publish script ${r.redisScript.usPerCall.toFixed(0)} µs/call, ${r.redisScript.usPerItem.toFixed(1)} µs/notification`);
  if (r.backlogAtEnd !== undefined) parts.push(`outbox backlog at end ${r.backlogAtEnd} rows (${r.deadTuples ?? '?'} dead tuples)`);
  if (r.drainStates) parts.push(`drain session: ${statesText(r.drainStates)}`);
  if ((r.cpu['other'] ?? 0) > NOISY_OTHER_CPU) parts.push(`NOTE: other processes on this machine used ${r.cpu['other']?.toFixed(0)}% of a core during the window`);
  return parts.join('; ');
}

function statesText(states: Record<string, number>): string {
  return Object.entries(states)
    .sort((a, b) => b[1] - a[1])
    .filter(([, v]) => v >= 0.02)
    .map(([s, v]) => `${(v * 100).toFixed(0)}% ${s}`)
    .join(', ');
}

function measurements(raw1: RunResult, raw2: RunResult, plain: RunResult, outbox: RunResult): Measurement[] {
  const raw = (raw1.receivedPerSecond + raw2.receivedPerSecond) / 2;
  const rawNote = `mean of a run before (${k(raw1.receivedPerSecond)}/s) and after (${k(raw2.receivedPerSecond)}/s) the notifier runs; pgbench ${CLIENTS} clients; ${drainText(raw1)}; CPU % of a core: ${cpuText(raw1.cpu)}; CPU µs/notification: ${costText(raw1)}`;
  const ourNote = (r: RunResult) =>
    [
      `sent ${k(r.sentPerSecond)}/s`,
      drainText(r),
      r.stages ? `listener got ${k(r.stages.listenerReceived)}/s, published ${k(r.stages.busPublished)}/s` : '',
      r.meanBatch !== undefined ? `mean bus batch ${r.meanBatch.toFixed(0)}` : '',
      `CPU % of a core: ${cpuText(r.cpu)}`,
      `CPU µs/notification: ${costText(r)}`,
    ]
      .filter((s) => s !== '')
      .join('; ');
  return [
    { scenario: ID, subject: 'pgbench NOTIFY → pg LISTEN', metric: 'notifications/s', value: Math.round(raw), unit: '/s', note: rawNote },
    { scenario: ID, subject: 'notifier plain', metric: 'notifications/s', value: Math.round(plain.receivedPerSecond), unit: '/s', note: ourNote(plain) },
    plainRatioRow('notifier plain', plain, raw),
    {
      scenario: ID,
      subject: 'notifier outbox',
      metric: 'notifications/s',
      value: Math.round(outbox.receivedPerSecond),
      unit: '/s',
      target: '≥ 10k/s',
      met: outbox.receivedPerSecond >= 10_000 && outbox.drainSeconds !== undefined,
      note: ourNote(outbox),
    },
    {
      scenario: ID,
      subject: 'notifier outbox',
      metric: 'outbox backlog at end of load',
      value: outbox.backlogAtEnd ?? NaN,
      unit: 'rows',
      note: `${outbox.drainSeconds === undefined ? 'not drained' : `drained ${outbox.drainSeconds.toFixed(2)} s after the load stopped`}${outbox.drainStates ? `; drain session: ${statesText(outbox.drainStates)}` : ''}`,
    },
  ];
}

/** What the runs say about the targets, from their own numbers (RESULTS.md). */
function explain(ctx: BenchContext, raws: RunResult[], plain: RunResult, outbox: RunResult, rawPinned: RunResult, plainPinned: RunResult, polling: RunResult): void {
  const total = (r: RunResult) => Object.values(costPerNotification(r)).reduce((a, b) => a + b, 0);
  const us = (v: number) => `${v.toFixed(0)} µs`;
  const rawRate = raws.reduce((a, r) => a + r.receivedPerSecond, 0) / raws.length;
  const rawCost = raws.reduce((a, r) => a + total(r), 0) / raws.length;
  const c = costPerNotification(plain);
  const consumers = ['listener', 'redis', 'edge', 'bench process'].map((g) => `${g} ${us(c[g] ?? 0)}`).join(', ');
  const ratio = plain.receivedPerSecond / rawRate;
  const pinnedRatio = plainPinned.receivedPerSecond / rawPinned.receivedPerSecond;
  ctx.explain?.(
    `**Plain mode on shared cores (${ratio.toFixed(2)}× raw).** Every run saturates the machine ` +
      `(${plain.cpu['machine']?.toFixed(0) ?? '?'} % of 200 % in the notifier run), so its rate is set by the CPU each notification costs. ` +
      `Raw, PostgreSQL, pgbench and one LISTEN client cost ${us(rawCost)} of CPU per notification; through notifier ${us(total(plain))}: ` +
      `the consumers (${consumers}) take CPU that PostgreSQL would otherwise use, which bounds plain/raw near ${(rawCost / total(plain)).toFixed(2)} ` +
      `on one 2-core machine however fast each stage is. With PostgreSQL and pgbench on their own core and the consumers on the other ` +
      `(as with a database on its own machine), notifier delivered ${pinnedRatio.toFixed(2)}× what raw LISTEN received ` +
      `(${k(plainPinned.receivedPerSecond)}/s vs ${k(rawPinned.receivedPerSecond)}/s): it keeps up with what PostgreSQL sends.`,
  );
  const o = costPerNotification(outbox);
  const pgSide = (o['pg others'] ?? 0) + (o['pg outbox backend'] ?? 0) + (o['pg LISTEN backend'] ?? 0) + (o['pgbench'] ?? 0) + (o['irq'] ?? 0);
  const p = costPerNotification(polling);
  ctx.explain?.(
    `**Outbox (${k(outbox.receivedPerSecond)}/s; polling only ${k(polling.receivedPerSecond)}/s).** Each notification is an INSERT and a commit by the application ` +
      `(with a wake-up NOTIFY by default), then its share of a DELETE … RETURNING, a Redis publish and the fan-out, all on the same two cores. ` +
      `PostgreSQL, pgbench and interrupts alone took ${us(pgSide)} per notification: even with notifier costing nothing, the machine could not write more than about ` +
      `${k(2e6 / pgSide)}/s through the outbox; notifier's listener, Redis and edge added ${us((o['listener'] ?? 0) + (o['redis'] ?? 0) + (o['edge'] ?? 0))}. ` +
      `Without the wake-up NOTIFY (\`notifier.wakeup = off\`, drain polling every ${POLLING_MS} ms; the mode README recommends for write-heavy databases) the ` +
      `LISTEN backend is idle (${us(p['pg LISTEN backend'] ?? 0)} instead of ${us(o['pg LISTEN backend'] ?? 0)} per notification). The drain by itself, without concurrent ` +
      `writes, moves a backlog at the "backlog drain" rate below.`,
  );
}

/** The polling-only outbox run (notifier.wakeup = off). */
function pollingMeasurement(r: RunResult): Measurement {
  return {
    scenario: ID,
    subject: 'notifier outbox, polling only',
    metric: 'notifications/s',
    value: Math.round(r.receivedPerSecond),
    unit: '/s',
    target: '≥ 10k/s',
    met: r.receivedPerSecond >= 10_000 && r.drainSeconds !== undefined,
    note: `pgbench sessions with notifier.wakeup = off (no wake-up NOTIFY), drain polling every ${POLLING_MS} ms; sent ${k(r.sentPerSecond)}/s; ${drainText(r)}; CPU µs/notification: ${costText(r)}`,
  };
}

/** Target 5's plain row: notifier's rate over the raw LISTEN client's, everything arrived. */
function plainRatioRow(subject: string, plain: RunResult, rawPerSecond: number): Measurement {
  const ratio = plain.receivedPerSecond / rawPerSecond;
  return {
    scenario: ID,
    subject,
    metric: 'plain / raw',
    value: Math.round(ratio * 1000) / 1000,
    unit: '×',
    target: '≥ 90% of raw',
    met: ratio >= 0.9 && plain.drainSeconds !== undefined,
    note: `${k(plain.receivedPerSecond)}/s of ${k(rawPerSecond)}/s`,
  };
}

/** The "PostgreSQL on its own core" pair: does notifier keep up with what PostgreSQL can send? */
function pinnedMeasurements(raw: RunResult, plain: RunResult): Measurement[] {
  const where = `PostgreSQL + pgbench pinned to CPU ${SOURCE_CPU}, the consumers to CPU ${CONSUMER_CPU}`;
  return [
    { scenario: ID, subject: 'pgbench NOTIFY → pg LISTEN, PostgreSQL on its own core', metric: 'notifications/s', value: Math.round(raw.receivedPerSecond), unit: '/s', note: `${where}; ${drainText(raw)}; CPU % of a core: ${cpuText(raw.cpu)}` },
    { scenario: ID, subject: 'notifier plain, PostgreSQL on its own core', metric: 'notifications/s', value: Math.round(plain.receivedPerSecond), unit: '/s', note: `${where}; ${drainText(plain)}; CPU % of a core: ${cpuText(plain.cpu)}; CPU µs/notification: ${costText(plain)}` },
    plainRatioRow('notifier plain, PostgreSQL on its own core', plain, raw.receivedPerSecond),
  ];
}

// --- probes ----------------------------------------------------------------------------------

interface StageCounters {
  listenerReceived: number;
  busPublished: number;
  batches: number;
  batchItems: number;
  edgeDelivered: number;
  scriptCalls: number;
  scriptUsec: number;
}

async function stageCounters(env: Env): Promise<StageCounters> {
  const { h } = env;
  const [l, e, info] = await Promise.all([
    httpGet(`${await h.listenerHttp(env.listener)}/metrics`).then((r) => r?.text ?? ''),
    httpGet(`${h.edgeHttp(0)}/metrics`).then((r) => r?.text ?? ''),
    env.redis.info('commandstats').catch(() => ''),
  ]);
  // cmdstat_evalsha:calls=…,usec=…,… (ioredis runs defined scripts with EVALSHA, EVAL after a NOSCRIPT).
  let scriptCalls = 0;
  let scriptUsec = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    scriptCalls += Number(m[1]);
    scriptUsec += Number(m[2]);
  }
  return {
    listenerReceived: metricSum(l, 'notifier_pg_notifications_received_total'),
    busPublished: metricSum(l, 'notifier_bus_published_total'),
    batches: metricSum(l, 'notifier_bus_publish_batch_size_count'),
    batchItems: metricSum(l, 'notifier_bus_publish_batch_size_sum'),
    edgeDelivered: metricSum(e, 'notifier_delivered_total'),
    scriptCalls,
    scriptUsec,
  };
}

async function backendPids(h: Harness, application: string): Promise<number[]> {
  const rows = await h.pg.sql<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [application]);
  return rows.map((r) => r.pid);
}

/**
 * Samples what a session is doing every 20 ms (pg_stat_activity): for the outbox drain session,
 * "idle in transaction after SELECT" is the time the listener spends publishing the batch.
 */
function sampleSessionStates(url: string, application: string): { stop(): Promise<Record<string, number>> } {
  const c = new pg.Client({ connectionString: url, application_name: 'bench-monitor' });
  c.on('error', () => undefined);
  const counts = new Map<string, number>();
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    await c.connect();
    while (!stopped) {
      const { rows } = await c.query<{ state: string | null; q: string }>(
        `SELECT state, upper(split_part(ltrim(query), ' ', 1)) AS q FROM pg_stat_activity WHERE application_name = $1`,
        [application],
      );
      const row = rows[0];
      const key = !row ? 'no session' : row.state === 'active' ? `running ${row.q}` : row.state === 'idle in transaction' ? `in transaction, waiting for the listener after ${row.q}` : `${row.state ?? '?'} (between batches)`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      samples += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })().catch(() => undefined);
  return {
    async stop() {
      stopped = true;
      await loop;
      await c.end().catch(() => undefined);
      return Object.fromEntries([...counts.entries()].map(([key, n]) => [key, n / Math.max(1, samples)]));
    },
  };
}

async function waitFor(get: () => number, n: number, idleMs: number, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let last = get();
  let lastProgress = Date.now();
  while (get() < n) {
    const now = Date.now();
    if (get() !== last) {
      last = get();
      lastProgress = now;
    }
    if (now - lastProgress > idleMs || now > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

async function waitOutboxEmpty(h: Harness, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const n = Number((await h.pg.sql<{ n: string }>('SELECT count(*) AS n FROM notifier.outbox'))[0]?.n ?? 0);
    if (n === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

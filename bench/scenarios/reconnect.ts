/**
 * Scenario 6: reconnect storm (issue 4, target 6: an edge holding 10k clients is killed; all of
 * them reconnected through HAProxy and resumed in ≤ 10 s).
 *
 * One throw-away cluster (test/cluster/harness.ts): PostgreSQL, Redis, 1 listener, the victim
 * edge and SURVIVORS more, and two HAProxy instances (round robin, /ready checks, no stickiness)
 * in front of every edge: one HAProxy proxies 2 sockets per client and a process may hold at most
 * 20,000 here, so 10k clients need two load-balancer nodes; each takes half of the clients (one
 * load-generator worker each), and a client keeps its node across reconnects.
 *
 * Each round (loadgen/storm-*.ts, reconnect-round.ts): only the victim edge is up while the
 * clients connect (the others are stopped, so HAProxy has them DOWN), so all N subscribe to `all`
 * on it; then the survivors start and turn UP. A producer sends `pg_notify` with a sequence
 * number at a fixed rate through the real path (listener → Redis → edges) before, during and
 * after the signal. The victim gets SIGKILL (and, in a second round, SIGTERM: it drains, closing
 * its clients with 1012 over NOTIFIER_DRAIN_SECONDS), and every client reconnects through its
 * HAProxy with a jittered back-off and resumes from its last offset. At the end every client must
 * have every seq exactly once.
 *
 * Knobs: BENCH_STORM_CLIENTS (10000; quick 2000), BENCH_STORM_SURVIVORS (2),
 * BENCH_STORM_RATE (20/s), BENCH_STORM_SIGNALS (SIGKILL,SIGTERM).
 */
import type { BenchContext, Measurement, Scenario } from '../lib/scenario.js';
import { startHarness } from '../../test/cluster/harness.js';
import { authSetup } from '../loadgen/tokens.js';
import type { Backoff } from '../loadgen/storm-messages.js';
import { roundMeasurements, timesOf } from './reconnect-report.js';
import { stormRound, type RoundResult } from './reconnect-round.js';

const ID = '6-reconnect';
const CHANNEL = 'bench_storm';
const TARGET_SECONDS = 10;
const LBS = 2;
/** The victim's drain window in the SIGTERM round (k8s/ uses 10 s; shorter here keeps the round short). */
const DRAIN_SECONDS = 5;
/**
 * Connections per HAProxy: twice its share of clients, so that closing and reopening sessions
 * never wait for a slot (measured, SIGTERM round: with only 20 % headroom 1,667 upgrades waited
 * past the clients' 5 s timeout and all were back after 26 s instead of 11 s); at most 9,500,
 * since a process holds 2 descriptors per connection under a hard limit of 20,000 here.
 */
const LB_MAXCONN = (perLb: number) => Math.min(9500, perLb * 2);
/** A real client's policy: first retry after 0–1 s, then windows of 2, 4, 5, 5 … s (full jitter). */
const BACKOFF: Backoff = { firstMs: 1000, maxMs: 5000 };

export const reconnect: Scenario = {
  id: ID,
  title: 'Reconnect storm: kill an edge holding 10k clients; all back through HAProxy and resumed',
  run,
};

async function run(ctx: BenchContext): Promise<Measurement[]> {
  const clients = Number(process.env['BENCH_STORM_CLIENTS'] ?? (ctx.quick ? 2000 : 10_000));
  const survivors = Number(process.env['BENCH_STORM_SURVIVORS'] ?? 2);
  const rate = Number(process.env['BENCH_STORM_RATE'] ?? 20);
  const signals = (process.env['BENCH_STORM_SIGNALS'] ?? 'SIGKILL,SIGTERM').split(',').map((s) => s.trim() as NodeJS.Signals);
  const perLb = Math.ceil(clients / LBS);
  ctx.param?.('clients', `${clients}, all subscribed to \`all\`, on one edge (the only one up while they connect)`);
  ctx.param?.('cluster', `1 listener, 1 + ${survivors} edges (default configuration, NOTIFIER_AUTH=jwt: an HS256 token per client with \`all\`), all on 127.0.0.1`);
  ctx.param?.('load balancers', `${LBS} HAProxy instances (2 LB nodes: a process holds 2 fds per client, ≤ 20,000), ${perLb} clients each (maxconn ${LB_MAXCONN(perLb)}), round robin over every edge with /ready checks (inter 500 ms, fall 2), retries 3 with redispatch`);
  ctx.param?.('rounds', signals.map((s) => (s === 'SIGTERM' ? `SIGTERM (drain: 1012 in batches over NOTIFIER_DRAIN_SECONDS ${DRAIN_SECONDS} s)` : s)).join(', '));
  ctx.param?.('producer', `pg_notify('${CHANNEL}', {seq}) at ${rate}/s on one connection, before, during and after the signal`);
  ctx.param?.('client back-off', `after a drop: first retry uniform 0–${BACKOFF.firstMs / 1000} s; after each failed attempt (503, refused, 5 s without an upgrade answer) the window doubles, up to ${BACKOFF.maxMs / 1000} s (full jitter); the first request on a new connection is \`resume\``);
  ctx.param?.('load generator', `${Math.max(LBS, Math.ceil(clients / 5000))} processes of raw net sockets (≤ 5,000 each, own 127.0.x.y source address), one per LB node`);

  ctx.log(`[${ID}] starting the cluster (PostgreSQL, Redis, 1 listener, ${1 + survivors} edges, ${LBS} HAProxy)`);
  // Every edge verifies tokens (issue 14 §1): HS256, one per client, with `all`.
  const { edgeEnv: authEnv, auth } = authSetup('HS256');
  const h = await startHarness({
    listeners: 1,
    edges: 1 + survivors,
    lbs: LBS,
    lbMaxconn: LB_MAXCONN(perLb),
    env: { LOG_LEVEL: 'info' },
    listenerEnv: { NOTIFIER_CHANNELS: CHANNEL },
    edgeEnv: { ...authEnv, NOTIFIER_DRAIN_SECONDS: String(DRAIN_SECONDS) },
  });
  const out: Measurement[] = [];
  try {
    for (const signal of signals) {
      const r = await stormRound(h, {
        signal,
        clients,
        victim: 0,
        survivors: Array.from({ length: survivors }, (_, i) => i + 1),
        channel: CHANNEL,
        rate,
        beforeSeconds: ctx.quick ? 2 : 3,
        afterSeconds: ctx.quick ? 2 : 3,
        stormTimeoutMs: 120_000,
        backoff: BACKOFF,
        ...(auth !== undefined && { auth }),
        log: (m) => ctx.log(`[${ID}] ${signal}: ${m}`),
      });
      logRound(ctx, r);
      out.push(...roundMeasurements(ID, r, TARGET_SECONDS, survivors, LBS, DRAIN_SECONDS));
    }
    return out;
  } finally {
    await h.stop().catch((err: Error) => ctx.log(`[${ID}] harness stop: ${err.message}`));
  }
}

function logRound(ctx: BenchContext, r: RoundResult): void {
  const t = timesOf(r);
  const max = (a: Float64Array) => (a.length ? (a[a.length - 1] as number).toFixed(3) : 'n/a');
  const rep = r.report;
  ctx.log(
    `[${ID}] ${r.signal}: all dropped ${max(t.dropped)} s, all reconnected ${max(t.reconnected)} s, all resumed ${max(t.resumed)} s; ` +
      `${t.notBack} not back; resumed ${rep.resumed}, resets ${rep.resets} ${JSON.stringify(rep.resetReasons)}; produced ${r.produced}, missing ${rep.missing}, duplicated ${rep.duplicated}; ` +
      `attempts ${rep.attempts}, refused ${JSON.stringify(rep.refused)}, failures ${JSON.stringify(rep.failures)}; spread ${r.spread.join('/')}; victim exited after ${r.victimExitSeconds.toFixed(2)} s; surviving edges logged ${JSON.stringify(r.edgeEvents)}`,
  );
}

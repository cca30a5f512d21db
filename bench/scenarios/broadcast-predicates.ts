/**
 * Scenario 1p, payload predicates against broadcast (issue 15 §4): one edge (NOTIFIER_AUTH=jwt),
 * N clients, notifications at max rate carrying `bucket` seq % 50, trials alternating on the same
 * edge (fresh clients each):
 *
 * - broadcast: every client on `all` (as scenario 1);
 * - equal fan-out: every client on `all` with one of 50 distinct predicates that ALL hold for
 *   every notification (`{"seq":{"gte":-k}}`, k = 1…50; N / 50 clients each): each notification
 *   still reaches all N clients, through 50 topics after 50 predicate evaluations. Deliveries per
 *   notification equal broadcast's, so deliveries/s compare like with like: this is the target;
 * - selective: the same clients with `{"bucket":{"eq":k}}`, k = 0…49: each notification matches one
 *   predicate and reaches N / 50 clients (no target; deliveries/s and notifications/s reported).
 *
 * Every trial checks each client's count of deliveries after the producer stopped (all of them
 * for broadcast and equal, its bucket's for selective). Target: equal fan-out deliveries/s
 * ≥ 0.5× broadcast (medians, same run).
 */
import type { Scenario } from '../lib/scenario.js';
import { measureFanout, type FanoutOptions, type FanoutResult } from '../loadgen/fanout.js';
import { loadAverage, round } from '../loadgen/measure.js';
import { startNotifier } from '../peers/notifier.js';
import { broadcastFlowWindow, fanoutRows, median } from './broadcast.js';

const ID = '1p-broadcast-predicates';

/**
 * Earlier runs of this scenario (same code but for the window, 2026-12-03, on a machine shared with
 * other test runs: load average 15–23 on its 2 cores) and a look at the selective variant's limit.
 */
const EARLIER = [
  '**Earlier runs** (deliveries/s per trial; the section above is the last run). Run 1 (14:38 UTC, 8 s windows): broadcast 406,713 and 214,108, ' +
    'equal fan-out 505,619 and 419,477, selective 63,409 and 63,400 (634 notifications/s): equal / broadcast 1.243 (medians). Run 2 (14:45 UTC): broadcast 660,718 and ' +
    '1,014,385, equal fan-out 581,176 and 780,480, selective 80,888 and 292,548 (809 and 2,925 notifications/s): 0.769. Run 3 (15:07 UTC, load average ~12): broadcast ' +
    '723,863 and 909,844, equal fan-out 424,216 and 665,712, selective 146,857 and 589,866 (1,469 and 5,899 notifications/s): 0.732. Edge CPU per delivery over the three ' +
    'runs: broadcast 0.33–0.37 µs, equal fan-out 0.37–0.44 µs, selective 0.7–1.4 µs. Every client of every trial got exactly its count.',
  '',
  '**What limits selective** (no target). A diagnostic trial (batches of 500, 2,463 notifications/s, 246k deliveries/s) with the listener\'s and edge\'s metrics: the ' +
    'listener never paused its LISTEN socket (`notifier_listen_pauses_total` 0; 62 bus batches of ~420), and the edge\'s `notifier_delivery_latency_seconds` averaged ' +
    '3.0 s from the listener\'s receipt to the hand-over to uWS, while the edge ran 0.24 cores: notifications queue at the edge, which is short of CPU on the shared ' +
    'cores (load average ~17), not blocked elsewhere. Its cost is 70–100 µs of edge CPU per notification (0.7–1 µs per delivery to 100 sockets, one publish per ' +
    'notification, against ~0.35 µs when one publish reaches 5,000: the per-publish cost of uWS, as in 1b): 10–14k notifications/s per edge core.',
].join('\n');
const PREDICATES = 50;
const TARGET = 0.5;

type Variant = 'broadcast' | 'equal' | 'selective';

/**
 * The edge's CPU time per delivery (µs), from the trials' medians: what the variant costs the edge,
 * less sensitive than deliveries/s to how much of the shared cores the edge got.
 */
export function edgeMicrosPerDelivery(rs: FanoutResult[]): number {
  const per = rs.map((r) => ((r.cores['edge'] ?? Number.NaN) / r.deliveriesPerSec) * 1e6).sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)] ?? Number.NaN;
}

/** The check of every client's count, for a row's note. */
export function countNote(rs: FanoutResult[]): string {
  const checks = rs.map((r) => r.countCheck).filter((c) => c !== undefined);
  if (checks.length === 0) return '';
  const wrong = checks.reduce((s, c) => s + c.wrong, 0);
  const clients = checks.reduce((s, c) => s + c.clients, 0);
  const examples = checks.flatMap((c) => c.examples).slice(0, 3);
  return wrong === 0
    ? `per-client counts: all ${clients} clients of ${checks.length} trial(s) got exactly what they should`
    : `per-client counts: ${wrong} of ${clients} clients wrong (${examples.join('; ')})`;
}

export const broadcastPredicates: Scenario = {
  id: ID,
  title: 'Payload predicates against broadcast: N clients over 50 distinct predicates (all true; then one bucket each) vs `all`, max rate, one edge',
  async run(ctx) {
    const connections = ctx.quick ? 1000 : 5000;
    const trials = Number(process.env['BENCH_PREDICATE_TRIALS'] ?? (ctx.quick ? 1 : 2));
    const perPredicate = Math.max(1, Math.floor(connections / PREDICATES));
    const common = {
      connections,
      workers: 2,
      // 101, not 100: the sampled connections then hold every predicate, not all bucket 0.
      sampleEvery: 101,
      warmupMs: ctx.quick ? 2000 : 3000,
      windowMs: ctx.quick ? 5000 : 6000,
      pattern: 'broadcast' as const,
      buckets: PREDICATES,
      checkCounts: true,
      log: ctx.log,
    };
    // As scenario 1: about a million frames in flight across all clients.
    const broadcastFlow = broadcastFlowWindow(connections);
    // Selective: a notification reaches N / 50, so the same frames in flight are 50× the notifications (as 1b's scoped).
    const selectiveFlow = Math.min(10_000, Math.round(1_000_000 / perPredicate));
    const variants: Record<Variant, FanoutOptions> = {
      broadcast: { ...common, filters: { kind: 'all' }, flowWindow: broadcastFlow, maxBatch: 50 },
      equal: { ...common, filters: { kind: 'where', predicates: PREDICATES, variant: 'equal' }, flowWindow: broadcastFlow, maxBatch: 50 },
      selective: { ...common, filters: { kind: 'where', predicates: PREDICATES, variant: 'selective' }, flowWindow: selectiveFlow, maxBatch: 500 },
    };
    ctx.param?.('connections', connections);
    ctx.param?.('edge', 'NOTIFIER_AUTH=jwt (HS256, a token per client with `all`), default configuration');
    ctx.param?.('broadcast', '`{"type":"subscribe","filter":"all"}`');
    ctx.param?.('equal fan-out', `\`{"type":"subscribe","filter":"all","where":{"seq":{"gte":-k}}}\`, k = 1…${PREDICATES} (client i: k = i % ${PREDICATES} + 1, ${perPredicate} clients each): distinct canonical keys, every one true for every notification`);
    ctx.param?.('selective', `\`{"type":"subscribe","filter":"all","where":{"bucket":{"eq":k}}}\`, k = i % ${PREDICATES}; notification seq carries \`bucket\` seq % ${PREDICATES} (in every variant, so payloads are the same bytes)`);
    ctx.param?.('trials', `${trials} per variant, alternating broadcast, equal, selective on one edge (fresh clients each), median reported`);
    ctx.param?.('flow control', `broadcast and equal ≤ ${broadcastFlow} notifications in flight beyond the slowest clients, batches ≤ 50 (as scenario 1); selective ≤ ${selectiveFlow} beyond the clients' total, batches ≤ 500`);
    ctx.param?.('warm-up / window', `${common.warmupMs} ms / ${common.windowMs} ms; latency sampled on 1 in ${common.sampleEvery} connections`);
    ctx.param?.('load average at the start', loadAverage());

    // BENCH_PREDICATE_ONLY=equal (comma-separated) runs some variants only, e.g. to profile one.
    const only = (process.env['BENCH_PREDICATE_ONLY'] ?? '').split(',').filter(Boolean);
    const subject = await startNotifier();
    const results: Record<Variant, FanoutResult[]> = { broadcast: [], equal: [], selective: [] };
    try {
      for (let t = 0; t < trials; t++) {
        for (const label of ['broadcast', 'equal', 'selective'] as const) {
          if (only.length > 0 && !only.includes(label)) continue;
          const r = await measureFanout(subject, variants[label]);
          const c = r.countCheck;
          ctx.log(
            `notifier (${label}) trial ${t + 1}/${trials}: ${Math.round(r.deliveriesPerSec)} deliveries/s, ${Math.round(r.notificationsPerSec)} notifications/s, ` +
              `edge ${round(r.cores['edge'] ?? 0)} cores; counts: ${c ? `${c.wrong} of ${c.clients} wrong ${c.examples.join('; ')}` : 'not checked'}`,
          );
          results[label].push(r);
        }
      }
    } finally {
      await subject.stop();
    }
    const note = (rs: FanoutResult[]) => (rs.length > 1 ? `median of ${rs.length} trials: ${rs.map((r) => Math.round(r.deliveriesPerSec)).join(', ')}; ` : '') + `${countNote(rs)}; `;
    const b = median(results.broadcast);
    const e = median(results.equal);
    const s = median(results.selective);
    const ratio = e.deliveriesPerSec / b.deliveriesPerSec;
    const met = ratio >= TARGET;
    const [eb, ee, es] = [edgeMicrosPerDelivery(results.broadcast), edgeMicrosPerDelivery(results.equal), edgeMicrosPerDelivery(results.selective)];
    const countsOk = [...results.broadcast, ...results.equal, ...results.selective].every((r) => r.countCheck?.wrong === 0);
    const cores = (r: FanoutResult) => Object.entries(r.cores).map(([k, v]) => `${k} ${round(v)}`).join(', ');
    ctx.explain?.(
      `**Deliveries per notification.** Broadcast and equal fan-out deliver each notification to all ${b.connected} clients: broadcast through one topic ` +
        `(${Math.round(b.notificationsPerSec)} notifications/s, ${Math.round(b.deliveriesPerSec / 1000)}k deliveries/s; CPU cores: ${cores(b)}), equal fan-out through ` +
        `${PREDICATES} topics of ${perPredicate} after evaluating ${PREDICATES} predicates (${Math.round(e.notificationsPerSec)} notifications/s, ` +
        `${Math.round(e.deliveriesPerSec / 1000)}k deliveries/s; CPU cores: ${cores(e)}). Selective reaches ${perPredicate} clients per notification, so its ` +
        `deliveries/s need ${PREDICATES}× the notifications/s of broadcast: ${Math.round(s.notificationsPerSec)} notifications/s, ${Math.round(s.deliveriesPerSec / 1000)}k ` +
        `deliveries/s (CPU cores: ${cores(s)}).`,
    );
    ctx.explain?.(
      `**Edge CPU per delivery** (median of the trials' edge CPU time / deliveries; it depends less than deliveries/s on the share of the 2 cores the edge got from the ` +
        `other processes): broadcast ${round(eb, 3)} µs, equal fan-out ${round(ee, 3)} µs (${round(eb / ee, 2)}× broadcast's rate per edge CPU), selective ${round(es, 3)} µs ` +
        `(${round(es * perPredicate, 1)} µs per notification of ${perPredicate} recipients).`,
    );
    ctx.explain?.(EARLIER);
    return [
      ...fanoutRows(ID, { ...e, subject: `notifier, ${PREDICATES} predicates, equal fan-out` }, { text: `≥ ${TARGET}× broadcast deliveries/s`, met }, note(results.equal)),
      ...fanoutRows(ID, { ...b, subject: 'notifier, broadcast (all)' }, undefined, note(results.broadcast)),
      ...fanoutRows(ID, { ...s, subject: `notifier, ${PREDICATES} predicates, selective` }, undefined, note(results.selective)),
      { scenario: ID, subject: `notifier, ${PREDICATES} predicates, equal fan-out`, metric: 'ratio to broadcast (medians)', value: round(ratio, 3), unit: '×', target: `≥ ${TARGET}`, met, note: 'same edge, same run, alternating trials, the same recipients per notification' },
      { scenario: ID, subject: `notifier, ${PREDICATES} predicates, selective`, metric: 'ratio to broadcast (medians)', value: round(s.deliveriesPerSec / b.deliveriesPerSec, 3), unit: '×', note: `${perPredicate} recipients per notification instead of ${b.connected}: context, no target` },
      { scenario: ID, subject: 'notifier, broadcast (all)', metric: 'edge CPU per delivery', value: round(eb, 3), unit: 'µs' },
      { scenario: ID, subject: `notifier, ${PREDICATES} predicates, equal fan-out`, metric: 'edge CPU per delivery', value: round(ee, 3), unit: 'µs' },
      { scenario: ID, subject: `notifier, ${PREDICATES} predicates, selective`, metric: 'edge CPU per delivery', value: round(es, 3), unit: 'µs' },
      { scenario: ID, subject: 'notifier', metric: 'clients with a wrong count', value: [...results.broadcast, ...results.equal, ...results.selective].reduce((n, r) => n + (r.countCheck?.wrong ?? 0), 0), unit: '', target: '0', met: countsOk },
    ];
  },
};

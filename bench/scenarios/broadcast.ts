/**
 * Scenario 1, broadcast fan-out: N clients on ONE server, all subscribed to `all`, notifications
 * at the highest rate the clients take (flow-controlled), deliveries/s counted at the clients.
 * notifier: PostgreSQL pg_notify → listener → Redis → edge. raw uWS: Redis PUBLISH → app.publish.
 * Target: notifier ≥ 0.8× raw uWS.
 */
import type { Measurement, Scenario } from '../lib/scenario.js';
import { measureFanout, type FanoutOptions, type FanoutResult } from '../loadgen/fanout.js';
import { round } from '../loadgen/measure.js';
import { startNotifier } from '../peers/notifier.js';
import { startRawUws } from '../peers/raw-uws-process.js';
import type { Subject } from '../peers/subject.js';

const ID = '1-broadcast';

let lastNotifierDeliveries: number | undefined;
/** The notifier's broadcast deliveries/s measured earlier in this process (scenario 4 compares). */
export function lastBroadcast(): number | undefined {
  return lastNotifierDeliveries;
}

export async function fanoutOn(start: () => Promise<Subject>, o: FanoutOptions): Promise<FanoutResult> {
  return (await fanoutTrials(start, o, 1))[0] as FanoutResult;
}

/** `trials` measurements on one subject, each with a fresh set of clients. */
export async function fanoutTrials(start: () => Promise<Subject>, o: FanoutOptions, trials: number): Promise<FanoutResult[]> {
  const subject = await start();
  try {
    const out: FanoutResult[] = [];
    for (let t = 0; t < trials; t++) {
      const r = await measureFanout(subject, o);
      o.log(`${r.subject} trial ${t + 1}/${trials}: ${Math.round(r.deliveriesPerSec)} deliveries/s`);
      out.push(r);
    }
    return out;
  } finally {
    await subject.stop();
  }
}

/** The trial with the median deliveries/s (the upper one of two). */
export function median(results: FanoutResult[]): FanoutResult {
  const sorted = [...results].sort((a, b) => a.deliveriesPerSec - b.deliveriesPerSec);
  return sorted[Math.floor(sorted.length / 2)] as FanoutResult;
}

const trialsNote = (rs: FanoutResult[]) =>
  rs.length > 1 ? `median of ${rs.length} trials: ${rs.map((r) => Math.round(r.deliveriesPerSec)).join(', ')}; ` : '';

/** The rows of one subject's fan-out result. */
export function fanoutRows(scenario: string, r: FanoutResult, target?: { text: string; met: boolean }, prefix = ''): Measurement[] {
  const lost = r.expected - r.delivered;
  const closes = Object.entries(r.closed).map(([c, n]) => `${n}× ${c}`).join(', ');
  const note = prefix + [
    `${r.connected} clients; CPU cores: ${Object.entries(r.cores).map(([role, c]) => `${role} ${round(c)}`).join(', ')}`,
    lost > 0 ? `${lost} of ${r.expected} deliveries missing after the run` : `all ${r.expected} deliveries arrived`,
    closes ? `closed: ${closes}` : '',
  ].filter(Boolean).join('; ');
  return [
    { scenario, subject: r.subject, metric: 'deliveries/s', value: Math.round(r.deliveriesPerSec), unit: '/s', ...(target ? { target: target.text, met: target.met } : {}), note },
    { scenario, subject: r.subject, metric: 'notifications/s', value: Math.round(r.notificationsPerSec), unit: '/s' },
    { scenario, subject: r.subject, metric: 'p50 latency (saturated)', value: round(r.p50), unit: 'ms', note: `${r.samples} samples; p50 since the envelope timestamp (notifier: listener receipt; raw: frame built) ${round(r.p50SinceStamp)} ms` },
    { scenario, subject: r.subject, metric: 'p99 latency (saturated)', value: round(r.p99), unit: 'ms' },
  ];
}

export const broadcast: Scenario = {
  id: ID,
  title: 'Broadcast fan-out: N clients subscribed to `all` on one server, max rate',
  async run(ctx) {
    const connections = ctx.quick ? 1000 : 5000;
    // Single runs vary a lot on this machine (deliveries sometimes stall for a second with every
    // process idle): each subject is measured several times and the median reported.
    const trials = ctx.quick ? 1 : 3;
    const o: FanoutOptions = {
      connections,
      filters: { kind: 'all' },
      workers: 2,
      sampleEvery: 100,
      warmupMs: ctx.quick ? 2000 : 3000,
      windowMs: ctx.quick ? 5000 : 10_000,
      // About a million frames (~200 MB) in flight across all clients: enough to cover the
      // pipeline's latency, not so many that the kernel's TCP memory comes under pressure (1,000
      // in flight × 5,000 clients did, and stalled deliveries for seconds at a time).
      flowWindow: Math.min(1000, Math.max(100, Math.round(1_000_000 / connections))),
      maxBatch: 50,
      pattern: 'broadcast',
      log: ctx.log,
    };
    for (const [k, v] of Object.entries({
      connections: o.connections,
      trials: `${trials} per subject (fresh clients each), median reported`,
      'load generator processes': `${o.workers} + 1 for the sampled connections`,
      'latency sampled on': `1 in ${o.sampleEvery} connections`,
      'warm-up': `${o.warmupMs} ms`,
      window: `${o.windowMs} ms`,
      'flow control': `≤ ${o.flowWindow} notifications in flight beyond the slowest clients, batches ≤ ${o.maxBatch}`,
    })) ctx.param?.(k, v);
    const raws = await fanoutTrials(startRawUws, o, trials);
    const ourss = await fanoutTrials(startNotifier, o, trials);
    const raw = median(raws);
    const ours = median(ourss);
    lastNotifierDeliveries = ours.deliveriesPerSec;
    const ratio = ours.deliveriesPerSec / raw.deliveriesPerSec;
    const best = (rs: FanoutResult[]) => Math.max(...rs.map((r) => r.deliveriesPerSec));
    const bestRatio = best(ourss) / best(raws);
    return [
      ...fanoutRows(ID, ours, { text: '≥ 0.8× raw uWS', met: ratio >= 0.8 }, trialsNote(ourss)),
      ...fanoutRows(ID, raw, undefined, trialsNote(raws)),
      { scenario: ID, subject: 'notifier', metric: 'ratio to raw uWS (medians)', value: round(ratio), unit: '×', target: '≥ 0.8', met: ratio >= 0.8 },
      ...(trials > 1
        ? [{
            scenario: ID,
            subject: 'notifier',
            metric: 'ratio to raw uWS (best trials)',
            value: round(bestRatio),
            unit: '×',
            target: '≥ 0.8',
            met: bestRatio >= 0.8,
            note: `best of ${trials}: notifier ${Math.round(best(ourss))}/s, raw uWS ${Math.round(best(raws))}/s — the capacity without the stalls that hit either subject at random`,
          }]
        : []),
    ];
  },
};

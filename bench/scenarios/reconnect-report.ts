/** The reconnect storm's numbers: per-client outage times, resets, lost and duplicated seqs, CPU. */
import type { Measurement } from '../lib/scenario.js';
import { percentile, round } from '../loadgen/measure.js';
import type { RoundResult } from './reconnect-round.js';

export interface Times {
  /** Per-client seconds from the signal, sorted (Infinity: did not happen). */
  dropped: Float64Array;
  reconnected: Float64Array;
  resumed: Float64Array;
  /** Per-client phases, seconds, sorted: drop → attempt (back-off), attempt → 101 (HAProxy, edge), welcome → resumed (replay). */
  backoff: Float64Array;
  upgrade: Float64Array;
  replay: Float64Array;
  /** Clients whose outage never ended. */
  notBack: number;
}

export function timesOf(r: RoundResult): Times {
  const since = (t: number) => (t > 0 ? (t - r.signalAt) / 1000 : Infinity);
  const outages = r.report.outages;
  return {
    dropped: Float64Array.from(outages, (o) => since(o.droppedAt)).sort(),
    reconnected: Float64Array.from(outages, (o) => since(o.welcomedAt)).sort(),
    resumed: Float64Array.from(outages, (o) => since(o.liveAt)).sort(),
    backoff: Float64Array.from(outages, (o) => (o.liveAt > 0 ? (o.attemptAt - o.droppedAt) / 1000 : Infinity)).sort(),
    upgrade: Float64Array.from(outages, (o) => (o.liveAt > 0 ? (o.upgradedAt - o.attemptAt) / 1000 : Infinity)).sort(),
    replay: Float64Array.from(outages, (o) => (o.liveAt > 0 ? (o.liveAt - o.welcomedAt) / 1000 : Infinity)).sort(),
    notBack: outages.filter((o) => o.liveAt === 0).length,
  };
}

const events = (e: RoundResult['edgeEvents']) =>
  Object.entries(e)
    .map(([k, v]) => `${k} ×${v.count} (${v.sample.slice(0, 120)})`)
    .join('; ') || 'none';

const last = (a: Float64Array) => (a.length === 0 ? Number.NaN : (a[a.length - 1] as number));

/**
 * The target (issue 4) is for the kill; a SIGTERM round holds the drain to its own target instead
 * (issue 6: every client gets 1012 within NOTIFIER_DRAIN_SECONDS; one second of slack for the last
 * close frame to cross HAProxy). Resets, loss and duplicates are held to 0 in every round.
 */
export function roundMeasurements(id: string, r: RoundResult, targetSeconds: number, survivors: number, lbs: number, drainSeconds: number): Measurement[] {
  const t = timesOf(r);
  const rep = r.report;
  const subject = `notifier, ${r.signal} of the edge holding ${r.clients.toLocaleString('en-US')} clients`;
  const m = (metric: string, value: number, unit: string, extra: Partial<Measurement> = {}): Measurement => ({ scenario: id, subject, metric, value, unit, ...extra });
  const spread = (a: Float64Array) => `p50 ${round(percentile(a, 50), 3)} s, p99 ${round(percentile(a, 99), 3)} s, max ${round(last(a), 3)} s`;
  const lost = rep.missing;
  const allResumed = last(t.resumed);
  const met = t.notBack === 0 && allResumed <= targetSeconds && rep.resets === 0 && lost === 0 && rep.duplicated === 0;
  const targeted = r.signal === 'SIGKILL';
  const kv = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ') || 'none';
  const cpu = (k: string) => round(r.cpu[k] ?? 0, 0);
  return [
    m(`all ${r.clients.toLocaleString('en-US')} reconnected and resumed`, round(allResumed, 3), 's', {
      ...(targeted ? { target: `≤ ${targetSeconds} s, 0 resets, nothing lost or duplicated`, met } : {}),
      note: `signal → the last client's \`resumed\`; ${t.notBack} never back; ${rep.resets} resets; ${lost} lost, ${rep.duplicated} duplicated`,
    }),
    m('all reconnected', round(last(t.reconnected), 3), 's', { note: `signal → \`welcome\` on the connection that resumed; per client ${spread(t.reconnected)}` }),
    m('resumed p50', round(percentile(t.resumed, 50), 3), 's', { note: 'per client: signal → `resumed`' }),
    m('resumed p99', round(percentile(t.resumed, 99), 3), 's'),
    m('replay p99', round(percentile(t.replay, 99), 3), 's', {
      note: `per client \`welcome\` → \`resumed\` (the edge replaying what the client missed): ${spread(t.replay)}; before it, back-off ${spread(t.backoff)}; attempt → 101 through HAProxy ${spread(t.upgrade)}`,
    }),
    m('all dropped', round(last(t.dropped), 3), 's', { note: `signal → the client seeing its connection end; per client ${spread(t.dropped)}` }),
    ...(targeted
      ? []
      : [
          m('drain: edge closed every client and exited', round(r.victimExitSeconds, 3), 's', {
            target: `≤ ${drainSeconds + 1} s (NOTIFIER_DRAIN_SECONDS ${drainSeconds} + 1), every client 1012`,
            met: r.victimExitSeconds <= drainSeconds + 1 && (rep.closeCodes['1012'] ?? 0) === r.clients,
            note: `signal → the victim's exit, after its last 1012; close codes seen by clients: ${kv(rep.closeCodes)}. "All dropped" above is when the load generator, sharing the 2 cores, got to each close frame`,
          }),
        ]),
    m('resets', rep.resets, 'clients', {
      target: '0',
      met: rep.resets === 0,
      note: `by reason ${kv(rep.resetReasons)}; ${rep.resumed} resumed answers, ${rep.replayed.toLocaleString('en-US')} notifications replayed in them; surviving edges' warnings: ${events(r.edgeEvents)}`,
    }),
    m('notifications lost or duplicated', lost + rep.duplicated, 'notifications', {
      target: 'none (every client every seq exactly once)',
      met: lost + rep.duplicated === 0 && rep.beyond === 0,
      note: `${r.produced} produced × ${r.clients} clients; ${lost} missing, ${rep.duplicated} duplicated, ${rep.outOfOrder} out of order, ${rep.beyond} unexpected`,
    }),
    m('reconnect attempts', rep.attempts, 'attempts', {
      note: `${round(rep.attempts / r.clients, 2)} per client; refused upgrades ${kv(rep.refused)}; failed attempts ${kv(rep.failures)}; close codes ${kv(rep.closeCodes)}; ${rep.extraDrops} dropped again after resuming; clients per surviving edge ${r.spread.join(' / ')}`,
    }),
    m(`CPU, ${survivors} surviving edge${survivors === 1 ? '' : 's'}`, cpu('surviving edges'), '% of a core', {
      note: `over the ${round(r.cpuWindowSeconds, 1)} s from the signal until every client was back; listener ${cpu('listener')} %, Redis ${cpu('redis')} %, PostgreSQL ${cpu('postgres')} %, victim ${cpu('victim')} %, load generator ${cpu('load generator')} %, other processes ${cpu('other')} %, irq ${cpu('irq')} %, machine ${cpu('machine')} %`,
    }),
    m('surviving edges: event-loop delay max', round(Math.max(...r.loopDelay.map((d) => d.max)), 3), 's', {
      note: `over the same window, per edge: ${r.loopDelay.map((d) => `max ${round(d.max, 3)} s, p99 ${round(d.p99, 3)} s`).join('; ')} (the edge serves upgrades, /ready and replays on this one loop)`,
    }),
    m(`CPU, ${lbs} HAProxy`, cpu('haproxy'), '% of a core', { note: 'same window' }),
  ];
}

/**
 * Scenario 4, selective fan-out: N clients, each subscribed to its own `user:<i>` plus a shared
 * `entity_type:inquiry` (which the notifications do not carry), so every client has a distinct
 * filter set and each notification — for user seq % N — reaches exactly one client. Max rate,
 * flow-controlled, deliveries/s counted at the clients.
 * Target (notifier): ≥ 50% of scenario 1's broadcast deliveries/s (taken from this run's
 * scenario 1 result when it ran before, else not judged).
 */
import type { Measurement, Scenario } from '../lib/scenario.js';
import type { FanoutOptions, FanoutResult } from '../loadgen/fanout.js';
import { round } from '../loadgen/measure.js';
import { startNotifier } from '../peers/notifier.js';
import { startRawUws } from '../peers/raw-uws-process.js';
import { fanoutOn, fanoutRows, lastBroadcast } from './broadcast.js';

const ID = '4-selective';

export const selective: Scenario = {
  id: ID,
  title: 'Selective fan-out: user:<i> + a shared entity_type per client, one recipient per notification, max rate',
  async run(ctx) {
    const o: FanoutOptions = {
      connections: ctx.quick ? 1000 : 5000,
      filters: { kind: 'user', shared: ['entity_type:inquiry'] },
      workers: 2,
      sampleEvery: 100,
      warmupMs: ctx.quick ? 2000 : 3000,
      windowMs: ctx.quick ? 5000 : 15_000,
      flowWindow: 20_000,
      maxBatch: 500,
      pattern: 'selective',
      log: ctx.log,
    };
    ctx.param?.('connections', o.connections);
    ctx.param?.('filters', 'user:<i> + entity_type:inquiry (notifications carry entity_type execution)');
    ctx.param?.('warm-up', `${o.warmupMs} ms`);
    ctx.param?.('window', `${o.windowMs} ms`);
    ctx.param?.('flow control', `≤ ${o.flowWindow} notifications in flight beyond what the clients received, batches ≤ ${o.maxBatch} (one pg_notify statement / one Redis pipeline each)`);
    const results: FanoutResult[] = [];
    for (const start of [startRawUws, startNotifier]) {
      const r = await fanoutOn(start, o);
      ctx.log(`${r.subject}: ${Math.round(r.deliveriesPerSec)} deliveries/s`);
      results.push(r);
    }
    const [raw, ours] = results as [FanoutResult, FanoutResult];
    const broadcast = lastBroadcast();
    const out: Measurement[] = [];
    if (broadcast !== undefined) {
      const share = ours.deliveriesPerSec / broadcast;
      out.push(...fanoutRows(ID, ours, { text: '≥ 50% of broadcast deliveries/s', met: share >= 0.5 }));
      out.push({ scenario: ID, subject: 'notifier', metric: 'share of broadcast deliveries/s', value: round(share, 3), unit: '×', target: '≥ 0.5', met: share >= 0.5, note: `broadcast (1-broadcast, this run): ${Math.round(broadcast)} deliveries/s` });
    } else {
      out.push(...fanoutRows(ID, ours));
    }
    out.push(...fanoutRows(ID, raw));
    out.push({ scenario: ID, subject: 'notifier', metric: 'ratio to raw uWS', value: round(ours.deliveriesPerSec / raw.deliveriesPerSec), unit: '×' });
    return out;
  },
};

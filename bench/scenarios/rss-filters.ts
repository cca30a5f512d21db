/**
 * Scenario 3b, memory per idle connection as its filter count grows (issue 13): the notifier
 * edge only, measured as scenario 3 does (restart, WARM connections, settle, RSS, ADDED more,
 * settle, RSS; ΔRSS / ADDED), with one filter (`user:<i>`), three (`user:<i>` + two shared) and
 * the most a connection may hold by default: 100 filters (NOTIFIER_MAX_SUBSCRIPTIONS' default)
 * of MAX_FILTER_LENGTH (256) characters, distinct within and across connections
 * (`entity:doc:<i>-<j>-xxx…`). The 100-filter variant uses fewer connections (each costs far
 * more) and lifts the inbound rate limit (default 50 messages/s) so a client can send its 100
 * subscribes at once.
 */
import { MAX_FILTER_LENGTH } from '../../src/protocol/filters.js';
import type { Measurement, Scenario } from '../lib/scenario.js';
import { startNotifier } from '../peers/notifier.js';
import { measure, ONE_FILTER, SHARED, type Sizes, type Variant } from './rss.js';

const ID = '3b-rss-filters';
const MANY = 100;

const VARIANTS: [Variant, Sizes, Sizes][] = [
  // [variant, sizes, quick sizes]
  [ONE_FILTER, { warm: 2000, added: 10_000, settleMs: 5000 }, { warm: 1000, added: 4000, settleMs: 2000 }],
  [{ label: 'three filters', filters: { kind: 'user', shared: SHARED }, target: 2.5 }, { warm: 2000, added: 10_000, settleMs: 5000 }, { warm: 1000, added: 4000, settleMs: 2000 }],
  [
    // 10 handshakes at a time per worker: with 3e5058c's index, 500 at once (100 subscribes each,
    // each rebuilding the connection's quadratic topic names) kept the edge busy past the 60 s
    // handshake timeout: 685 of 841 failed.
    { label: `${MANY} filters of ${MAX_FILTER_LENGTH} characters`, filters: { kind: 'many', count: MANY, length: MAX_FILTER_LENGTH }, concurrency: 10 },
    { warm: 50, added: 200, settleMs: 5000 },
    { warm: 20, added: 100, settleMs: 2000 },
  ],
];

export const rssFilters: Scenario = {
  id: ID,
  title: `RSS per idle connection by filter count: 1, 3, and ${MANY} filters of ${MAX_FILTER_LENGTH} characters (notifier), slope from a warm server`,
  async run(ctx) {
    for (const [v, full, quick] of VARIANTS) {
      const s = ctx.quick ? quick : full;
      ctx.param?.(`connections, ${v.label}`, `${s.warm} warm, then ${s.added} more${v.concurrency ? ` (${v.concurrency} handshakes at a time per worker)` : ''}; settle ${s.settleMs} ms before each reading`);
    }
    ctx.param?.('filters', `user:<i>; user:<i> + ${SHARED.join(' + ')}; or entity:doc:<i>-<j>-xxx… (j < ${MANY}, ${MAX_FILTER_LENGTH} characters each)`);
    ctx.param?.('configuration', 'notifier edge as started by default (no NODE_OPTIONS), NOTIFIER_MAX_INBOUND_PER_SECOND=1000 (100 subscribes at once)');
    const out: Measurement[] = [];
    const subject = await startNotifier({ edgeEnv: { NOTIFIER_MAX_INBOUND_PER_SECOND: '1000' } });
    try {
      for (const [v, full, quick] of VARIANTS) out.push(await measure(subject, v, ctx.quick ? quick : full, ctx.log, ID));
    } finally {
      await subject.stop();
    }
    return out;
  },
};

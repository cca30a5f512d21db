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

/**
 * Before and after issue 13 §3 (topic i was filter i joined with every filter before it; now
 * filter i + "\n" + a short prefix id), from this scenario and bench/micro/filter-index.ts.
 */
export const NOTES = [
  "**Before and after issue 13 §3** (before: 3e5058c's filter index, topic i = filter i joined with every filter before it; after: 14eb06f, topic i = filter i + \"\\n\" + the base-36 id of the interned prefix f1…f(i-1)):",
  '',
  '| | before | after |',
  '|---|---:|---:|',
  '| RSS per connection, one filter (KB, this scenario; one figure per run) | 1.31 / 1.17 | 1.27 / 1.22 / 1.09 |',
  '| RSS per connection, three filters (KB) | 1.6 / 1.6 | 1.43 / 1.65 / 1.47 |',
  '| RSS per connection, 100 filters of 256 characters (KB; before: the second run, the first had 100 + 500 clients and most timed out) | 6,218 | 471 / 544 / 371 |',
  '| · the same, each client subscribing in canonical order (one run, not this scenario\'s default) | | 236 |',
  '| topic-name characters per connection, 100 filters of 256 characters (longest topic) | 1,297,750 (25,699) | 25,989 (260) |',
  '| the index\'s live JS heap per connection, 100 filters of 256 characters (B; heapUsed after full GCs, slope over the second 100 of 200 connections; it reads below the names\' characters before and after alike, so compare the two: 56× less) | 1,275,237 – 1,275,344 | 22,908 – 22,912 |',
  '| `topicsFor`, 5,000 connections with `user:<i>` + a shared type, a notification of that type (ns; median (range) of 10 runs, old and new interleaved) | 574 (475 – 699) | 517 (442 – 554) |',
  '| · a notification of another type (its user\'s own topic) | 503 (440 – 612) | 459 (421 – 637) |',
  '| `topicsFor`, 200 connections of 100 filters of 256 characters (ns) | 2,867 (2,702 – 3,278) | 1,543 (1,355 – 1,729) |',
  '| one subscribe there, as the edge does it (µs) | 790 – 1,108 | 59 – 122 |',
  '',
  "Before: measured at fc11fe3 and 1f734a4 with src/edge/filter-index.ts as at 3e5058c; after: the table above (the first run) at 14eb06f, then 14eb06f's code again (all say -dirty only for the work tree's untracked node_modules symlink). With 3e5058c's index the 100-filter clients' subscribes also starve the edge: at 100 handshakes at a time, 685 of 841 added clients timed out (60 s), and 50 + 200 clients at 10 at a time took 86 s to subscribe (after: 3 s). After, about half of the 100-filter figure is subscribe churn: a filter that sorts before others renames every topic after it (its exclusions changed), so the edge moves the client off the old topics and onto new ones, and the old names wait in the old generation and uWS for the next mark-compact; clients that subscribe in canonical order rename nothing (236 KB). Of the rest, the filters themselves are 27 KB per client, the index 23 KB, and uWS holds 100 topics of 258–260-character names.",
].join('\n');

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
    ctx.explain?.(NOTES);
    return out;
  },
};

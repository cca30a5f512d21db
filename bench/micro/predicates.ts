/**
 * Micro-benchmark of compiled payload predicates (issue 15 §4): evaluations per second of
 * CompiledPredicate.test on envelopes as the edge builds them, and parseWhere calls per second.
 *
 *   npx tsx bench/micro/predicates.ts   # prints one JSON line per case
 *
 * Cases: the example (2 leaves, a hit and a miss on the first leaf), a 16-leaf predicate
 * that holds (every leaf evaluated), and 50 distinct predicates over one notification (what an
 * edge with 50 interned predicates does per notification).
 */
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { nsPerCall as time } from './timing.js';
import { MAX_LEAVES, parseWhere, type CompiledPredicate } from '../../src/protocol/predicates.js';


function compile(where: unknown): CompiledPredicate {
  const r = parseWhere(where);
  if (!r.ok) throw new Error(r.message);
  return r.predicate;
}

function envelope(payload: Record<string, unknown>): Record<string, unknown> {
  return { ...envelopeFromValue('enforcement_events', payload, new Date()).envelope, offset: '1714564800000-0' };
}

let sink = 0;
const hit = envelope({ entity_type: 'enforcement', entity_id: 7, status: 'timeout', rule: 'core.x', n: 5, detail: { host: 'h1', tries: 3 } });
const miss = envelope({ entity_type: 'enforcement', entity_id: 7, status: 'ok', rule: 'core.x', n: 5 });
const report = (name: string, ns: number, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ case: name, ns_per_op: Math.round(ns * 10) / 10, ops_per_s: Math.round(1e9 / ns), ...extra }));

const example = compile({ status: { in: ['failed', 'timeout'] }, 'payload.rule': { eq: 'core.x' } });
report('example-hit', time(2_000_000, 5, () => void (sink += example.test(hit) ? 1 : 0)));
report('example-miss', time(2_000_000, 5, () => void (sink += example.test(miss) ? 1 : 0)));

const ops = [{ eq: 'timeout' }, { neq: 'x' }, { in: ['failed', 'timeout'] }, { nin: ['ok'] }, { exists: true }, { prefix: 'time' }, { gte: 'a' }, { lt: 'z' }];
const leaves16: Record<string, Record<string, unknown>> = {
  n: { gt: 1, gte: 5, lt: 9, lte: 5 },
  'detail.tries': { in: [1, 2, 3], exists: true, neq: 0, nin: [4] },
  status: Object.assign({}, ...ops.slice(0, 4)) as Record<string, unknown>,
  'payload.status': Object.assign({}, ...ops.slice(4)) as Record<string, unknown>,
};
const p16 = compile(leaves16);
if (p16.leaves !== MAX_LEAVES || !p16.test(hit)) throw new Error('16-leaf predicate should hold');
report('16-leaves-hit', time(1_000_000, 5, () => void (sink += p16.test(hit) ? 1 : 0)));

const fifty = Array.from({ length: 50 }, (_, i) => compile({ 'detail.tries': { gte: i % 5 }, status: { in: ['failed', 'timeout', `s${i}`] } }));
const ns50 = time(200_000, 5, () => {
  for (let j = 0; j < fifty.length; j++) sink += fifty[j]!.test(hit) ? 1 : 0;
});
report('50-predicates-per-notification', ns50, { notifications_per_s: Math.round(1e9 / ns50) });

const raw = JSON.parse('{"status":{"in":["failed","timeout"]},"payload.rule":{"eq":"core.x"}}') as unknown;
report('parseWhere-example', time(200_000, 5, () => void (sink += parseWhere(raw).ok ? 1 : 0)));

if (sink < 0) console.log(sink);

/**
 * Routing with payload predicates (issue 15 §4): a connection gets a notification once when any
 * of its (filter, where) subscriptions matches, exactly once with overlaps, and each distinct
 * predicate is evaluated at most once per notification, however many connections hold it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterIndex } from '../../src/edge/filter-index.js';
import { Wheres } from '../../src/edge/wheres.js';
import { ALL, routingKeys } from '../../src/protocol/filters.js';
import { parseSubscription, type WireSubscription } from '../../src/protocol/subscription.js';

const types = ['execution', 'inquiry'];
const ids = [1, 2];
const statuses = ['failed', 'timeout', 'succeeded', null];

const WHERES: unknown[] = [
  { status: { in: ['failed', 'timeout'] } },
  { status: { eq: 'succeeded' } },
  { 'payload.n': { gte: 2 } },
  { status: { exists: false } },
  { n: { lt: 2 }, status: { neq: 'failed' } },
];

function sub(filter: string, where: unknown): WireSubscription {
  const r = parseSubscription(filter, where);
  if (!r.ok) throw new Error(r.message);
  return r.subscription;
}

const filterArb = fc.oneof(
  fc.constant(ALL),
  fc.constantFrom(...types).map((t) => `entity_type:${t}`),
  fc.tuple(fc.constantFrom(...types), fc.constantFrom(...ids)).map(([t, id]) => `entity:${t}:${id}`),
  fc.constantFrom(...ids).map((id) => `user:${id}`),
);
const subArb = fc.tuple(filterArb, fc.option(fc.constantFrom(...WHERES), { nil: undefined, freq: 2 })).map(([f, w]) => sub(f, w));
const connectionArb = fc.array(subArb, { minLength: 1, maxLength: 5 });
const notificationArb = fc.record({
  notification_type: fc.constant('changed'),
  entity_type: fc.option(fc.constantFrom(...types), { nil: null }),
  entity_id: fc.option(fc.constantFrom(...ids), { nil: null }),
  user_id: fc.option(fc.constantFrom(...ids), { nil: null }),
  payload: fc.record({ status: fc.constantFrom(...statuses), n: fc.integer({ min: 0, max: 3 }) }),
});

describe('FilterIndex with payload predicates (property)', () => {
  it('a notification reaches exactly the connections with a matching (filter, where), each once; each predicate evaluated at most once', () => {
    fc.assert(
      fc.property(fc.array(connectionArb, { minLength: 1, maxLength: 25 }), fc.array(notificationArb, { minLength: 1, maxLength: 15 }), fc.array(fc.nat(), { maxLength: 8 }), (connections, notifications, leaving) => {
        const wheres = new Wheres();
        const evaluations = new Map<string, number>();
        const index = new FilterIndex('', wheres);
        const counted = (s: WireSubscription): WireSubscription => {
          if (s.where === undefined) return s;
          const { key, predicate } = s.where;
          return { ...s, where: { key, predicate: { leaves: predicate.leaves, test: (e) => (evaluations.set(key, (evaluations.get(key) ?? 0) + 1), predicate.test(e)) } } };
        };
        const held = connections.map((subs) => {
          for (const s of subs) wheres.retain(counted(s));
          return index.acquire(subs.map((s) => s.id));
        });
        const gone = new Set(leaving.map((i) => i % connections.length));
        for (const i of gone) {
          index.release(held[i]!);
          for (const s of connections[i]!) wheres.release(s.id);
        }
        for (const n of notifications) {
          const keys = routingKeys(n);
          evaluations.clear();
          const published = [...index.topicsFor(keys, () => n)];
          const asBusNotification = { offset: '1-0', prev: '0-0', keys, notificationType: n.notification_type, sourceTime: 0, frame: JSON.stringify(n) };
          expect(new Set(published).size).toBe(published.length);
          for (const count of evaluations.values()) expect(count).toBe(1);
          evaluations.clear();
          connections.forEach((subs, i) => {
            if (gone.has(i)) return;
            const copies = published.filter((t) => held[i]!.includes(t)).length;
            const wanted = subs.some((s) => (s.filter === ALL || keys.includes(s.filter)) && (s.where === undefined || s.where.predicate.test(n)));
            expect(copies, `${subs.map((s) => s.id).join(' | ')} and ${JSON.stringify(n)}`).toBe(wanted ? 1 : 0);
            // Replay's check (Wheres.wants) agrees with live routing.
            expect(wheres.wants(subs.map((s) => s.id), asBusNotification)).toBe(wanted);
          });
          // However many connections replay it, each predicate is tested once per notification.
          for (const count of evaluations.values()) expect(count).toBe(1);
        }
        for (const i of held.keys()) if (!gone.has(i)) index.release(held[i]!);
        for (const i of held.keys()) if (!gone.has(i)) for (const s of connections[i]!) wheres.release(s.id);
        expect(index.size).toBe(0);
        expect(wheres.size).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('an index without predicates never parses the envelope', () => {
    const index = new FilterIndex();
    index.acquire(['entity_type:execution', 'user:1']);
    let parsed = 0;
    index.topicsFor(['entity_type:execution'], () => ++parsed);
    expect(parsed).toBe(0);
  });

  it('a predicate on a filter the notification misses is not evaluated', () => {
    const wheres = new Wheres();
    const index = new FilterIndex('', wheres);
    const s = sub('entity_type:inquiry', { status: { eq: 'failed' } });
    wheres.retain(s);
    index.acquire([s.id]);
    let parsed = 0;
    expect(index.topicsFor(['entity_type:execution'], () => ++parsed)).toHaveLength(0);
    expect(parsed).toBe(0);
  });
});

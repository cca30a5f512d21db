import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterIndex } from '../../src/edge/filter-index.js';
import { matches, parseFilter, routingKeys, type RoutingFields } from '../../src/protocol/filters.js';

const execution: RoutingFields = {
  notification_type: 'execution_status_changed',
  entity_type: 'execution',
  entity_id: 123,
  user_id: 456,
};

describe('FilterIndex', () => {
  it('gives the same topics to the same set in any order, with duplicates ignored', () => {
    const index = new FilterIndex();
    const a = index.acquire(['user:1', 'entity_type:execution', 'notification_type:x']);
    const b = index.acquire(['notification_type:x', 'user:1', 'entity_type:execution', 'user:1']);
    const c = index.acquire(new Set(['entity_type:execution', 'notification_type:x', 'user:1']));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(index.topicsOf(['user:1', 'notification_type:x', 'entity_type:execution'])).toEqual(a);
    expect(index.size).toBe(3);
  });

  it('orders broad filters first, so they are shared topics without exclusions', () => {
    const index = new FilterIndex();
    const filters = ['user:1', 'entity:execution:1', 'notification_type:x', 'entity_type:execution'];
    const topics = index.acquire(filters);
    expect(index.topicsOf(filters)).toEqual(topics);
    expect(index.topicsOf(filters)).toEqual(topics);
    // Topic 1 is the bare filter; topic i is filter i and the short id of the filters before it.
    expect(topics[0]).toBe('entity_type:execution');
    ['notification_type:x', 'user:1', 'entity:execution:1'].forEach((f, i) => {
      expect(topics[i + 1]).toMatch(new RegExp(`^${f}\n[0-9a-z]{1,4}$`));
    });
    expect(new Set(topics).size).toBe(4);
    // A single filter is its own topic, and `all` makes every other filter redundant.
    expect(index.topicsOf(['user:1'])).toEqual(['user:1']);
    expect(index.topicsOf(['user:1', 'all', 'entity_type:execution'])).toEqual(['all']);
    index.release(topics);
  });

  it('puts N clients with user:<i> + a shared entity_type on one shared topic for that type', () => {
    const index = new FilterIndex();
    for (let i = 0; i < 100; i++) index.acquire([`user:${i}`, 'entity_type:execution']);
    // One publish reaches all 100 (the user's own topic is excluded: the type already matched).
    expect(index.topicsFor(routingKeys({ ...execution, user_id: 7 }))).toEqual(['entity_type:execution']);
    // A notification of another type reaches only its user, through the user's own topic.
    const own = index.topicsOf(['user:7', 'entity_type:execution'])[1];
    expect(own).toMatch(/^user:7\n/);
    expect(index.topicsFor(routingKeys({ ...execution, entity_type: 'inquiry', user_id: 7 }))).toEqual([own]);
    expect(index.size).toBe(101);
  });

  it('refcounts: a topic stays routable until its last connection releases it', () => {
    const index = new FilterIndex();
    const keys = routingKeys(execution);
    const t1 = index.acquire(['user:456']);
    const t2 = index.acquire(['user:456']);
    expect(t2).toEqual(t1);
    expect(index.topicsFor(keys)).toEqual(t1);

    index.release(t1);
    expect(index.size).toBe(1);
    expect(index.topicsFor(keys)).toEqual(t1);

    index.release(t1);
    expect(index.size).toBe(0);
    expect(index.topicsFor(keys)).toHaveLength(0);
  });

  it('forgets released topics entirely, then can intern them again', () => {
    const index = new FilterIndex();
    const t = index.acquire(['entity_type:inquiry', 'user:456']);
    index.release(t);
    expect(index.size).toBe(0);
    expect(index.topicsFor(routingKeys(execution))).toHaveLength(0);
    // Extra releases of unknown topics are harmless.
    index.release(t);
    index.release(['never-acquired']);
    expect(index.size).toBe(0);
    const again = index.acquire(['user:456', 'entity_type:inquiry']);
    expect(again).toEqual(t);
    expect(index.topicsFor(routingKeys(execution))).toEqual([again[1]]);
  });

  it('releasing one set leaves a set sharing a topic routable', () => {
    const index = new FilterIndex();
    const a = index.acquire(['entity_type:execution']);
    const b = index.acquire(['entity_type:execution', 'user:1']);
    index.release(a);
    expect(index.topicsFor(routingKeys(execution))).toEqual(['entity_type:execution']);
    index.release(b);
    expect(index.size).toBe(0);
  });

  it('includes `all` subscribers for every notification, even one with no specific keys', () => {
    const index = new FilterIndex();
    const [all] = index.acquire(['all']);
    index.acquire(['all', 'user:456']);
    const other = index.acquire(['user:999']);
    expect(index.topicsFor([])).toEqual([all]);
    expect(index.topicsFor(['notification_type:x'])).toEqual([all]);
    expect(index.topicsFor(routingKeys(execution))).toEqual([all]);
    expect(index.topicsFor(routingKeys(execution))).not.toContain(other[0]);
  });

  it('publishes one topic of a set even when all of its filters match', () => {
    const index = new FilterIndex();
    const topics = index.acquire(['entity_type:execution', 'entity:execution:123', 'user:456', 'notification_type:execution_status_changed']);
    expect(index.topicsFor(routingKeys(execution))).toEqual([topics[0]]);
  });

  it('routes each kind of filter', () => {
    const index = new FilterIndex();
    const byType = index.acquire(['notification_type:execution_status_changed']);
    const byEntityType = index.acquire(['entity_type:execution']);
    const byEntity = index.acquire(['entity:execution:123']);
    const byUser = index.acquire(['user:456']);
    const none = index.acquire(['entity:execution:124', 'user:457', 'notification_type:inquiry_created']);
    const reached = new Set(index.topicsFor(routingKeys({ ...execution, entity_id: '123', user_id: '456' })));
    expect(reached).toEqual(new Set([...byType, ...byEntityType, ...byEntity, ...byUser]));
    for (const t of none) expect(reached.has(t)).toBe(false);
  });
});

describe('FilterIndex agrees with filters.matches (property)', () => {
  // Small vocabularies so that filter sets overlap, repeat, and hit notifications often.
  const types = ['execution', 'inquiry', 'event'];
  const ids = [1, 2, '1', '2', 'x'];
  const channels = ['execution_status_changed', 'inquiry_created', 'event_created'];

  const filterArb = fc.oneof(
    fc.constant('all'),
    fc.constantFrom(...types).map((t) => `entity_type:${t}`),
    fc.tuple(fc.constantFrom(...types), fc.constantFrom(...ids)).map(([t, id]) => `entity:${t}:${String(id)}`),
    fc.constantFrom(...ids).map((id) => `user:${String(id)}`),
    fc.constantFrom(...channels).map((c) => `notification_type:${c}`),
  );
  // A connection's filters as the edge keeps them (possibly with repeats, in any order).
  const connectionArb = fc.array(filterArb, { minLength: 1, maxLength: 6 });
  const notificationArb: fc.Arbitrary<RoutingFields> = fc.record({
    notification_type: fc.constantFrom(...channels),
    entity_type: fc.option(fc.constantFrom(...types), { nil: null }),
    entity_id: fc.option(fc.constantFrom(...ids), { nil: null }),
    user_id: fc.option(fc.constantFrom(...ids), { nil: null }),
  });

  it('every generated filter is valid', () => {
    fc.assert(fc.property(filterArb, (f) => parseFilter(f).ok));
  });

  it('a notification reaches exactly the connections whose filters match it, each once', () => {
    fc.assert(
      fc.property(
        fc.array(connectionArb, { minLength: 1, maxLength: 30 }),
        fc.array(notificationArb, { minLength: 1, maxLength: 20 }),
        // Connections that disconnect before the notifications (exercises release).
        fc.array(fc.nat(), { maxLength: 10 }),
        (connections, notifications, leaving) => {
          const index = new FilterIndex();
          const topicsOf = connections.map((filters) => index.acquire(filters));
          const gone = new Set(leaving.map((i) => i % connections.length));
          for (const i of gone) index.release(topicsOf[i] ?? []);
          const on = (i: number, topic: string) => !gone.has(i) && (topicsOf[i] ?? []).includes(topic);
          // Refcounts (kept only for shared topics): exactly the topics live connections hold remain.
          expect(index.size).toBe(new Set(topicsOf.filter((_t, i) => !gone.has(i)).flat()).size);

          for (const n of notifications) {
            const keys = routingKeys(n);
            // Each topic is published once; every live connection on it receives one copy.
            const published = [...index.topicsFor(keys)];
            expect(new Set(published).size).toBe(published.length);
            const received = new Map<number, number>();
            for (const topic of published) {
              connections.forEach((_f, i) => {
                if (on(i, topic)) received.set(i, (received.get(i) ?? 0) + 1);
              });
            }
            const expected = new Set<number>();
            connections.forEach((filters, i) => {
              if (!gone.has(i) && matches(new Set(filters), keys)) expected.add(i);
            });
            expect(new Set(received.keys())).toEqual(expected);
            for (const count of received.values()) expect(count).toBe(1);
            // No topic is published that nobody live is subscribed to.
            for (const topic of published) {
              expect(connections.some((_f, i) => on(i, topic))).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('after every connection leaves, nothing is routed and nothing is kept', () => {
    fc.assert(
      fc.property(fc.array(connectionArb, { maxLength: 20 }), notificationArb, (connections, n) => {
        const index = new FilterIndex();
        const topics = connections.map((f) => index.acquire(f));
        for (const t of topics) index.release(t);
        expect(index.size).toBe(0);
        expect(index.topicsFor(routingKeys(n))).toHaveLength(0);
      }),
    );
  });
});

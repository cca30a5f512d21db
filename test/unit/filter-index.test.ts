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
  it('gives the same topic to the same set in any order, with duplicates ignored', () => {
    const index = new FilterIndex();
    const a = index.acquire(['user:1', 'entity_type:execution', 'all']);
    const b = index.acquire(['all', 'user:1', 'entity_type:execution', 'user:1']);
    const c = index.acquire(new Set(['entity_type:execution', 'all', 'user:1']));
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(FilterIndex.topicOf(['entity_type:execution', 'user:1', 'all'])).toBe(a);
    expect(index.size).toBe(1);
  });

  it('gives different sets different topics', () => {
    const index = new FilterIndex();
    const a = index.acquire(['user:1']);
    const b = index.acquire(['user:1', 'user:2']);
    const c = index.acquire(['user:2']);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(index.size).toBe(3);
  });

  it('refcounts: a set stays routable until its last connection releases it', () => {
    const index = new FilterIndex();
    const keys = routingKeys(execution);
    const t1 = index.acquire(['user:456']);
    const t2 = index.acquire(['user:456']);
    expect(t2).toBe(t1);
    expect([...index.topicsFor(keys)]).toEqual([t1]);

    index.release(t1);
    expect(index.size).toBe(1);
    expect([...index.topicsFor(keys)]).toEqual([t1]);

    index.release(t1);
    expect(index.size).toBe(0);
    expect(index.topicsFor(keys).size).toBe(0);
  });

  it('forgets a released set entirely, then can intern it again', () => {
    const index = new FilterIndex();
    const t = index.acquire(['entity_type:execution', 'user:456']);
    index.release(t);
    expect(index.size).toBe(0);
    expect(index.topicsFor(routingKeys(execution)).size).toBe(0);
    // Extra releases of an unknown topic are harmless.
    index.release(t);
    index.release('never-acquired');
    expect(index.size).toBe(0);
    const again = index.acquire(['user:456', 'entity_type:execution']);
    expect(again).toBe(t);
    expect([...index.topicsFor(routingKeys(execution))]).toEqual([t]);
  });

  it('releasing one set leaves a set sharing a filter routable', () => {
    const index = new FilterIndex();
    const a = index.acquire(['user:456']);
    const b = index.acquire(['user:456', 'entity_type:inquiry']);
    index.release(a);
    expect([...index.topicsFor(routingKeys(execution))]).toEqual([b]);
  });

  it('includes `all` subscribers for every notification, even one with no specific keys', () => {
    const index = new FilterIndex();
    const all = index.acquire(['all']);
    const allAndUser = index.acquire(['all', 'user:456']);
    const other = index.acquire(['user:999']);
    expect(new Set(index.topicsFor([]))).toEqual(new Set([all, allAndUser]));
    expect(new Set(index.topicsFor(['notification_type:x']))).toEqual(new Set([all, allAndUser]));
    const reached = new Set(index.topicsFor(routingKeys(execution)));
    expect(reached).toEqual(new Set([all, allAndUser]));
    expect(reached.has(other)).toBe(false);
  });

  it('lists a set once even when several of its filters match', () => {
    const index = new FilterIndex();
    const t = index.acquire(['all', 'entity_type:execution', 'entity:execution:123', 'user:456', 'notification_type:execution_status_changed']);
    expect([...index.topicsFor(routingKeys(execution))]).toEqual([t]);
  });

  it('routes each kind of filter', () => {
    const index = new FilterIndex();
    const byType = index.acquire(['notification_type:execution_status_changed']);
    const byEntityType = index.acquire(['entity_type:execution']);
    const byEntity = index.acquire(['entity:execution:123']);
    const byUser = index.acquire(['user:456']);
    const none = index.acquire(['entity:execution:124', 'user:457', 'notification_type:inquiry_created']);
    const reached = new Set(index.topicsFor(routingKeys({ ...execution, entity_id: '123', user_id: '456' })));
    expect(reached).toEqual(new Set([byType, byEntityType, byEntity, byUser]));
    expect(reached.has(none)).toBe(false);
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
          const topicOf = connections.map((filters) => index.acquire(filters));
          const gone = new Set(leaving.map((i) => i % connections.length));
          for (const i of gone) index.release(topicOf[i] as string);

          for (const n of notifications) {
            const keys = routingKeys(n);
            // Each topic is published once; every live connection on it receives one copy.
            const published: string[] = [...index.topicsFor(keys)];
            expect(new Set(published).size).toBe(published.length);
            const received = new Map<number, number>();
            for (const topic of published) {
              connections.forEach((_f, i) => {
                if (!gone.has(i) && topicOf[i] === topic) received.set(i, (received.get(i) ?? 0) + 1);
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
              expect(connections.some((_f, i) => !gone.has(i) && topicOf[i] === topic)).toBe(true);
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
        expect(index.topicsFor(routingKeys(n)).size).toBe(0);
      }),
    );
  });
});

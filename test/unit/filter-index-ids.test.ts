/**
 * FilterIndex topic names (issue 13 §3): short prefix ids in place of concatenated filters.
 * Every test releases what it acquires, so the process-wide prefix ids this file's module holds
 * (vitest gives each file its own) are back to none after each: index.prefixesInUse is
 * exact here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterIndex } from '../../src/edge/filter-index.js';
import { MAX_FILTER_LENGTH, matches, parseFilter, routingKeys, type RoutingFields } from '../../src/protocol/filters.js';

/** A filter of exactly MAX_FILTER_LENGTH characters for entity doc:<id>. */
const longEntity = (id: string): string => `entity:doc:${id}-`.padEnd(MAX_FILTER_LENGTH, 'x');
const longEntityId = (id: string): string => longEntity(id).slice('entity:doc:'.length);
const sum = (xs: readonly string[]): number => xs.reduce((n, s) => n + s.length, 0);

/**
 * The bound: a topic is its filter, or its filter + "\n" + an id below the most prefixes alive
 * at once so far (`peak`, index.prefixIdsPeak), in base 36.
 */
function expectBounded(filters: readonly string[], topics: readonly string[], peak: number): void {
  const idChars = Math.max(1, Math.max(0, peak - 1).toString(36).length);
  const set = new Set(filters);
  const counted = set.has('all') ? ['all'] : [...set];
  expect(topics.length).toBe(counted.length);
  expect(sum(topics)).toBeLessThanOrEqual(sum(counted) + (counted.length - 1) * (1 + idChars));
  for (const t of topics) expect(t.length).toBeLessThanOrEqual(MAX_FILTER_LENGTH + 1 + idChars);
}

describe('FilterIndex topic names', () => {
  it('100 filters of 256 characters: names linear in the filters, ids freed on release', () => {
    const index = new FilterIndex();
    expect(index.prefixesInUse).toBe(0);
    const sets = Array.from({ length: 20 }, (_v, i) => Array.from({ length: 100 }, (_w, j) => longEntity(`${i}-${j}`)));
    const held = sets.map((s) => index.acquire(s));
    // One prefix per filter but the last, per connection (none shared here).
    expect(index.prefixesInUse).toBe(20 * 99);
    for (const [i, topics] of held.entries()) {
      const filters = sets[i] as string[];
      expect(index.prefixIdsPeak).toBe(20 * 99);
      expectBounded(filters, topics, index.prefixIdsPeak);
      // Was 1,297,750 characters with the longest topic 25,699; now the filters plus ≤ 4 each.
      expect(sum(topics)).toBeLessThanOrEqual(100 * 256 + 99 * 4);
      expect(index.topicsOf(filters)).toEqual(topics);
    }
    // Exactly the connection and filter a notification names, whichever of its 100 it is.
    for (const j of [0, 1, 50, 99]) {
      const keys = routingKeys({ notification_type: 'doc_changed', entity_type: 'doc', entity_id: longEntityId(`7-${j}`), user_id: null });
      const filter = longEntity(`7-${j}`);
      expect(index.topicsFor(keys)).toEqual([held[7]?.find((t) => t.split('\n')[0] === filter)]);
    }
    for (const topics of held) index.release(topics);
    expect(index.size).toBe(0);
    expect(index.prefixesInUse).toBe(0);
  });

  it('shares prefixes: user:<i> + two broad filters hold two prefixes in all, however many connections', () => {
    const index = new FilterIndex();
    const held = Array.from({ length: 1000 }, (_v, i) => index.acquire([`user:${i}`, 'entity_type:execution', 'notification_type:execution_status_changed']));
    expect(index.prefixesInUse).toBe(2);
    const own = held.map((t) => t[2] as string);
    // user:<i> + "\n" + an id below the 1,980 prefixes of the test before (3 base-36 digits).
    for (const [i, t] of own.entries()) expect(t).toMatch(new RegExp(`^user:${i}\\n[0-9a-z]{1,3}$`));
    expect(new Set(held.map((t) => t[1])).size).toBe(1);
    for (const t of held) index.release(t);
    expect(index.prefixesInUse).toBe(0);
  });

  it('a single filter is its bare topic and holds no prefix', () => {
    const index = new FilterIndex();
    const t = index.acquire(['user:1']);
    expect(t).toEqual(['user:1']);
    expect(index.prefixesInUse).toBe(0);
    index.release(t);
  });

  it('reuses freed ids: a new set never gets a freed prefix\'s old meaning', () => {
    const index = new FilterIndex();
    const a = index.acquire(['entity_type:a', 'user:1']);
    index.release(a);
    const b = index.acquire(['entity_type:b', 'user:1']);
    // Same id, new prefix: the old name now means entity_type:b before user:1.
    expect(b[1]).toBe(a[1]);
    const typeA = routingKeys({ notification_type: 'n', entity_type: 'a', entity_id: null, user_id: 1 });
    const typeB = routingKeys({ notification_type: 'n', entity_type: 'b', entity_id: null, user_id: 1 });
    expect(index.topicsFor(typeA)).toEqual([b[1]]);
    expect(index.topicsFor(typeB)).toEqual(['entity_type:b']);
    // Releasing stale names again does nothing (they are b's now, but b holds them once).
    index.release(b);
    index.release(b);
    expect(index.prefixesInUse).toBe(0);
    expect(index.size).toBe(0);
  });

  it('two indexes keep their own prefixes: the same set gets names of the same shape, each freed with its index', () => {
    const x = new FilterIndex();
    const y = new FilterIndex();
    const tx = x.acquire(['entity_type:a', 'user:1']);
    const ty = y.acquire(['user:1', 'entity_type:a']);
    expect(ty).toEqual(tx);
    x.release(tx);
    expect([x.prefixesInUse, y.prefixesInUse]).toEqual([0, 1]);
    expect(y.topicsFor(routingKeys({ notification_type: 'n', entity_type: 'z', entity_id: null, user_id: 1 }))).toEqual([ty[1]]);
    y.release(ty);
    expect(y.prefixesInUse).toBe(0);
  });
});

describe('FilterIndex topic names (property)', () => {
  // Long filters from a small vocabulary, so that sets overlap and share prefixes.
  const docIds = ['1', '2', '3', '4', '5', '6'];
  const ids = [1, 2, 'x'];
  const types = ['execution', 'doc'];
  const filterArb = fc.oneof(
    { weight: 1, arbitrary: fc.constant('all') },
    { weight: 3, arbitrary: fc.constantFrom(...types).map((t) => `entity_type:${t}`) },
    { weight: 3, arbitrary: fc.constantFrom('a', 'b').map((c) => `notification_type:${c}`) },
    { weight: 3, arbitrary: fc.constantFrom(...ids).map((id) => `user:${String(id)}`) },
    { weight: 10, arbitrary: fc.constantFrom(...docIds).map(longEntity) },
    // Connection-own long filters: prefixes nobody shares.
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 10_000 }).map((n) => longEntity(`own-${n}`)) },
  );
  const connectionArb = fc.array(filterArb, { minLength: 1, maxLength: 100 });
  const notificationArb: fc.Arbitrary<RoutingFields> = fc.record({
    notification_type: fc.constantFrom('a', 'b', 'c'),
    entity_type: fc.option(fc.constantFrom(...types), { nil: null }),
    entity_id: fc.option(fc.constantFrom(...docIds.map(longEntityId)), { nil: null }),
    user_id: fc.option(fc.constantFrom(...ids), { nil: null }),
  });

  it('every generated filter is valid and at most MAX_FILTER_LENGTH', () => {
    fc.assert(fc.property(filterArb, (f) => parseFilter(f).ok));
  });

  it('exactly once with overlaps; names bounded; topicsOf derives them; ids all freed at the end', () => {
    fc.assert(
      fc.property(
        fc.array(connectionArb, { minLength: 1, maxLength: 12 }),
        fc.array(notificationArb, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (connections, notifications, leaving) => {
          const index = new FilterIndex();
          const base = index.prefixesInUse;
          const held = connections.map((filters) => index.acquire(filters));
          const peak = index.prefixIdsPeak;
          // At most n - 1 prefixes per connection with n distinct filters.
          expect(index.prefixesInUse - base).toBeLessThanOrEqual(connections.reduce((n, f) => n + new Set(f).size - 1, 0));
          const gone = new Set(leaving.map((i) => i % connections.length));
          for (const i of gone) index.release(held[i] ?? []);
          connections.forEach((filters, i) => {
            expectBounded(filters, held[i] ?? [], peak);
            if (!gone.has(i)) expect(index.topicsOf(filters)).toEqual(held[i]);
          });
          for (const n of notifications) {
            const keys = routingKeys(n);
            const published = [...index.topicsFor(keys)];
            expect(new Set(published).size).toBe(published.length);
            connections.forEach((filters, i) => {
              const copies = gone.has(i) ? 0 : published.filter((t) => held[i]?.includes(t)).length;
              expect(copies).toBe(!gone.has(i) && matches(new Set(filters), keys) ? 1 : 0);
            });
          }
          held.forEach((topics, i) => {
            if (!gone.has(i)) index.release(topics);
          });
          expect(index.size).toBe(0);
          expect(index.prefixesInUse).toBe(base);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('subscribing one filter at a time as the edge does keeps every name derivable and frees the old ones', () => {
    fc.assert(
      fc.property(fc.array(fc.array(filterArb, { minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 6 }), (connections) => {
        const index = new FilterIndex();
        const base = index.prefixesInUse;
        const held = connections.map(() => [] as readonly string[]);
        const current = connections.map(() => [] as string[]);
        // Round robin: connection c subscribes its next filter (edge: topicsHeld, acquire, release).
        const longest = Math.max(...connections.map((c) => c.length));
        for (let step = 0; step < longest; step++) {
          connections.forEach((filters, c) => {
            const f = filters[step];
            if (f === undefined || current[c]?.includes(f)) return;
            const before = index.topicsOf(current[c] ?? []);
            expect(before).toEqual(current[c]?.length ? held[c] : []);
            current[c] = [...(current[c] ?? []), f];
            held[c] = index.acquire(current[c] ?? []);
            index.release(before);
          });
        }
        for (const t of held) index.release(t);
        expect(index.size).toBe(0);
        expect(index.prefixesInUse).toBe(base);
      }),
      { numRuns: 100 },
    );
  });
});

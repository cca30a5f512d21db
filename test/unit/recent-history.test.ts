import { describe, expect, it } from 'vitest';
import type { BusNotification } from '../../src/bus/bus.js';
import { RecentHistory } from '../../src/edge/recent-history.js';

const offset = (i: number) => `1000-${i}`;
function n(i: number, prev = i === 0 ? '0-0' : offset(i - 1), bytes = 100): BusNotification {
  return { offset: offset(i), prev, keys: [], notificationType: 't', sourceTime: 0, frame: Buffer.alloc(bytes) };
}
const offsets = (page: { items: BusNotification[] } | undefined) => page?.items.map((x) => x.offset);

describe('RecentHistory', () => {
  it('serves pages after an offset it holds, and after the chain start', () => {
    const h = new RecentHistory(1_000_000);
    for (let i = 0; i < 10; i++) h.push(n(i));
    expect(offsets(h.readAfter(offset(3), 4))).toEqual([4, 5, 6, 7].map(offset));
    expect(offsets(h.readAfter(offset(8), 100))).toEqual([offset(9)]);
    expect(offsets(h.readAfter('0-0', 2))).toEqual([offset(0), offset(1)]);
    expect(h.readAfter(offset(9), 10)).toEqual({ items: [], complete: true });
  });

  it('defers to the bus for offsets it does not hold', () => {
    const h = new RecentHistory(1_000_000);
    expect(h.readAfter(offset(1), 10)).toBeUndefined();
    for (let i = 5; i < 10; i++) h.push(n(i));
    expect(h.readAfter(offset(2), 10)).toBeUndefined(); // older than the chain
    expect(h.readAfter('1000-5x', 10)).toBeUndefined(); // not an offset it has
    expect(h.readAfter(offset(42), 10)).toBeUndefined(); // newer than anything
  });

  it('starts afresh when the chain breaks (resync, new epoch)', () => {
    const h = new RecentHistory(1_000_000);
    for (let i = 0; i < 5; i++) h.push(n(i));
    h.push(n(9, offset(7)));
    expect(h.size).toBe(1);
    expect(h.readAfter(offset(2), 10)).toBeUndefined();
    expect(offsets(h.readAfter(offset(7), 10))).toEqual([offset(9)]);
  });

  it('evicts the oldest beyond its byte budget and stays contiguous', () => {
    const h = new RecentHistory(3000); // ~300 B per entry counted: about 10 entries
    for (let i = 0; i < 5000; i++) h.push(n(i));
    expect(h.size).toBeLessThanOrEqual(10);
    expect(h.size).toBeGreaterThanOrEqual(9);
    const first = 5000 - h.size;
    expect(offsets(h.readAfter(offset(first - 1), 100))).toEqual(Array.from({ length: h.size }, (_, k) => offset(first + k)));
    expect(h.readAfter(offset(first - 2), 100)).toBeUndefined();
  });

  it('keeps nothing with a budget of 0', () => {
    const h = new RecentHistory(0);
    h.push(n(0));
    expect(h.size).toBe(0);
    expect(h.readAfter('0-0', 1)).toBeUndefined();
  });
});

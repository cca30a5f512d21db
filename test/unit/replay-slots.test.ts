import { describe, expect, it } from 'vitest';
import { ReplaySlots } from '../../src/edge/replay-slots.js';
import { bearerMatches } from '../../src/edge/metrics-routes.js';
import { createHash } from 'node:crypto';

describe('ReplaySlots', () => {
  it('runs at most max at once; the rest start first come first served as slots free', () => {
    const slots = new ReplaySlots<string>(2);
    const started: string[] = [];
    for (const k of ['a', 'b', 'c', 'd', 'e']) slots.acquire(k, () => started.push(k));
    expect(started).toEqual(['a', 'b']);
    expect([slots.active, slots.waiting]).toEqual([2, 3]);
    slots.release();
    expect(started).toEqual(['a', 'b', 'c']);
    slots.leave('d');
    slots.release();
    expect(started).toEqual(['a', 'b', 'c', 'e']);
    slots.release();
    slots.release();
    expect([slots.active, slots.waiting]).toEqual([0, 0]);
  });

  it('a leaver that is running keeps its slot until it releases; leaving twice is harmless', () => {
    const slots = new ReplaySlots<string>(1);
    const started: string[] = [];
    slots.acquire('a', () => started.push('a'));
    slots.acquire('b', () => started.push('b'));
    slots.leave('a');
    slots.leave('a');
    expect(started).toEqual(['a']);
    slots.release();
    expect(started).toEqual(['a', 'b']);
  });

  it('refuses a cap below 1', () => {
    expect(() => new ReplaySlots(0)).toThrow();
  });
});

describe('bearerMatches (NOTIFIER_METRICS_TOKEN)', () => {
  const expected = createHash('sha256').update('s3cret-metrics-token').digest();
  it('accepts exactly Bearer <token>', () => {
    expect(bearerMatches('Bearer s3cret-metrics-token', expected)).toBe(true);
    expect(bearerMatches('bearer s3cret-metrics-token', expected)).toBe(true);
  });
  it('refuses anything else', () => {
    for (const h of ['', 'Bearer', 'Bearer ', 'Bearer s3cret-metrics-toke', 'Bearer s3cret-metrics-token2', 'Basic s3cret-metrics-token', 's3cret-metrics-token']) {
      expect(bearerMatches(h, expected), h).toBe(false);
    }
  });
});

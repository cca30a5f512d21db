import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, jitter } from '../../src/util/backoff.js';

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Close to the top of Math.random's range [0, 1). */
const HIGH = 0.999;

describe('backoffDelay', () => {
  it('grows exponentially from base, in [ceiling/2, ceiling]', () => {
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, 100, 10_000))).toEqual([50, 100, 200, 400]);
    random.mockReturnValue(HIGH);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, 100, 10_000))).toEqual([99, 199, 399, 799]);
    // The supremum of Math.random gives the ceiling itself, never more.
    random.mockReturnValue(1);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, 100, 10_000))).toEqual([100, 200, 400, 800]);
  });

  it('caps at maxMs', () => {
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect(backoffDelay(10, 250, 10_000)).toBe(5_000);
    expect(backoffDelay(1_000_000, 250, 10_000)).toBe(5_000);
    random.mockReturnValue(HIGH);
    expect(backoffDelay(10, 250, 10_000)).toBe(9_995);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, 250, 10_000)).toBe(9_995);
    random.mockReturnValue(1);
    expect(backoffDelay(10, 250, 10_000)).toBe(10_000);
  });

  it('uses 250 ms base and 10 s cap by default', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    expect(backoffDelay(0)).toBe(125);
    expect(backoffDelay(50)).toBe(5_000);
  });

  it('property: always an integer within [ceiling/2, ceiling], ceiling = min(max, base·2^attempt)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 100 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 120_000 }), (attempt, base, max) => {
        const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 16));
        const d = backoffDelay(attempt, base, max);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(d).toBeLessThanOrEqual(ceiling);
        expect(d).toBeLessThanOrEqual(max);
      }),
    );
  });

  it('growth: with the same draw, each attempt doubles the delay until the cap, never shrinks', () => {
    fc.assert(
      fc.property(fc.nat({ max: 60 }), fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 120_000 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (attempt, base, max, r) => {
        vi.spyOn(Math, 'random').mockReturnValue(r);
        const now = backoffDelay(attempt, base, max);
        const next = backoffDelay(attempt + 1, base, max);
        expect(next).toBeGreaterThanOrEqual(now);
        if (attempt < 16 && base * 2 ** (attempt + 1) <= max) expect(Math.abs(next - 2 * now)).toBeLessThanOrEqual(1);
        vi.restoreAllMocks();
      }),
    );
  });

  it('full jitter over its range: draws spread evenly across [ceiling/2, ceiling]', () => {
    // Ten evenly spaced draws give ten evenly spaced delays: no part of the range is favoured.
    const random = vi.spyOn(Math, 'random');
    const spaced = Array.from({ length: 10 }, (_, k) => {
      random.mockReturnValue(k / 10);
      return backoffDelay(4, 250, 10_000); // ceiling 4000
    });
    expect(spaced).toEqual([2000, 2200, 2400, 2600, 2800, 3000, 3200, 3400, 3600, 3800]);
    random.mockRestore();
    // Real draws reach both ends of the range and average its middle.
    const draws = Array.from({ length: 4_000 }, () => backoffDelay(4, 250, 10_000));
    expect(Math.min(...draws)).toBeLessThan(2_100);
    expect(Math.max(...draws)).toBeGreaterThan(3_900);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(2_900);
    expect(mean).toBeLessThan(3_100);
  });

  it('is jittered: not every node retries at the same moment', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5, 250, 10_000)));
    expect(delays.size).toBeGreaterThan(1);
  });
});

describe('jitter', () => {
  it('stays within ms ± fraction', () => {
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect(jitter(1000)).toBe(750);
    expect(jitter(1000, 0.1)).toBe(900);
    random.mockReturnValue(1);
    expect(jitter(1000)).toBe(1250);
    expect(jitter(1000, 0.1)).toBe(1100);
    random.mockReturnValue(0.5);
    expect(jitter(1000)).toBe(1000);
  });

  it('never returns less than 1 ms', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    expect(jitter(0)).toBe(1);
    expect(jitter(1, 0.9)).toBe(1);
  });

  it('property: an integer in [max(1, ms·(1−f)), ms·(1+f)] (rounded)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (ms, f) => {
        const j = jitter(ms, f);
        expect(Number.isInteger(j)).toBe(true);
        expect(j).toBeGreaterThanOrEqual(Math.max(1, Math.round(ms * (1 - f))));
        expect(j).toBeLessThanOrEqual(Math.max(1, Math.round(ms * (1 + f))));
      }),
    );
  });
});

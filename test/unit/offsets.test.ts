import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareOffsets, isOffset, ZERO_OFFSET } from '../../src/protocol/offsets.js';

describe('offsets', () => {
  it('recognizes stream ids only', () => {
    for (const ok of ['0-0', '1795397093598-0', '5-17']) expect(isOffset(ok)).toBe(true);
    for (const bad of ['', '5', '-1-0', '1-', 'a-b', '1-0-0', 5, null, '12345678901234567-0']) expect(isOffset(bad)).toBe(false);
  });

  it('orders by milliseconds, then sequence, numerically (not as strings)', () => {
    expect(compareOffsets('9-0', '10-0')).toBeLessThan(0);
    expect(compareOffsets('10-2', '10-10')).toBeLessThan(0);
    expect(compareOffsets('10-10', '10-10')).toBe(0);
    expect(compareOffsets('11-0', '10-99')).toBeGreaterThan(0);
    expect(compareOffsets(ZERO_OFFSET, '0-1')).toBeLessThan(0);
  });

  it('agrees with numeric order of (ms, seq) pairs', () => {
    const pair = fc.tuple(fc.integer({ min: 0, max: 2 ** 42 }), fc.integer({ min: 0, max: 2 ** 20 }));
    fc.assert(
      fc.property(pair, pair, ([am, as], [bm, bs]) => {
        const expected = am === bm ? Math.sign(as - bs) : Math.sign(am - bm);
        expect(Math.sign(compareOffsets(`${am}-${as}`, `${bm}-${bs}`))).toBe(expected);
      }),
    );
  });
});

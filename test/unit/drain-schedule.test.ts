import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { drainSchedule } from '../../src/edge/drain-schedule.js';

describe('drainSchedule', () => {
  it('spreads connections evenly over the window, the first batch at once', () => {
    const s = drainSchedule(1000, 10_000);
    expect(s.dueBy(0)).toBe(5);
    expect(s.nextAt(0)).toBe(50);
    expect(s.dueBy(49)).toBe(5);
    expect(s.dueBy(50)).toBe(10);
    expect(s.dueBy(5000)).toBe(505);
    expect(s.dueBy(9950)).toBe(1000);
    expect(s.nextAt(9950)).toBeUndefined();
  });

  it('closes everything already due after a late wake-up, not one batch per wake-up', () => {
    const s = drainSchedule(10_000, 5000);
    // Woken 2 s late after the first batch: 40 % of the connections are due at once.
    expect(s.dueBy(2000)).toBe(4100);
    expect(s.dueBy(7000)).toBe(10_000);
    expect(s.nextAt(7000)).toBeUndefined();
  });

  it('closes everyone at once with no window, and handles fewer connections than batches', () => {
    expect(drainSchedule(30, 0).dueBy(0)).toBe(30);
    expect(drainSchedule(30, 0).nextAt(0)).toBeUndefined();
    const s = drainSchedule(3, 10_000);
    expect([s.dueBy(0), s.dueBy(3333), s.dueBy(3334), s.dueBy(6667)]).toEqual([1, 1, 2, 3]);
    expect(s.nextAt(3334)).toBe(6667);
    expect(s.nextAt(6667)).toBeUndefined();
    expect(drainSchedule(0, 10_000).dueBy(0)).toBe(0);
  });

  it('never decreases, never exceeds the total, and has everyone closed by the end of the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50_000 }), fc.integer({ min: 0, max: 60_000 }), fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 30 }), (total, drainMs, times) => {
        const s = drainSchedule(total, drainMs);
        let last = 0;
        for (const t of [...times].sort((a, b) => a - b)) {
          const due = s.dueBy(t);
          expect(due).toBeGreaterThanOrEqual(last);
          expect(due).toBeLessThanOrEqual(total);
          const next = s.nextAt(t);
          if (next === undefined) expect(due).toBe(total);
          else {
            expect(next).toBeGreaterThan(t);
            expect(s.dueBy(next)).toBeGreaterThan(due);
          }
          last = due;
        }
        expect(s.dueBy(drainMs)).toBe(total);
      }),
    );
  });
});

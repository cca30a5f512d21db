/**
 * Timing for the micro-benchmarks: a monotonic clock in milliseconds, and the best time per call
 * of a function over several rounds.
 */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** ns per call of fn over `calls` calls, best of `rounds` rounds. */
export function nsPerCall(calls: number, rounds: number, fn: (i: number) => void): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = now();
    for (let i = 0; i < calls; i++) fn(i);
    best = Math.min(best, ((now() - t0) * 1e6) / calls);
  }
  return best;
}

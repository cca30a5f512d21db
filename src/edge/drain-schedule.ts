/**
 * When each connection of a draining edge is closed: `total` connections in batches spread
 * evenly over `drainMs` (one batch per 50 ms at most, the first at once), driven by elapsed time
 * rather than by timer ticks. A starved process (a busy node, a CPU limit) wakes late; it then
 * closes everything already due in one go instead of one batch per wake-up, so the drain still
 * ends within the window plus one wake-up.
 *
 * Pure: may import nothing.
 */
export interface DrainSchedule {
  /** How many connections should be closed once `elapsedMs` have passed since the drain began. */
  dueBy(elapsedMs: number): number;
  /** Elapsed time at which the next batch after `elapsedMs` falls due (undefined after the last). */
  nextAt(elapsedMs: number): number | undefined;
}

const MIN_INTERVAL_MS = 50;

export function drainSchedule(total: number, windowMs: number): DrainSchedule {
  const drainMs = Math.max(0, Math.round(windowMs));
  const batches = Math.max(1, Math.min(total, Math.ceil(drainMs / MIN_INTERVAL_MS)));
  const perBatch = Math.max(1, Math.ceil(total / batches));
  // With `perBatch` rounded up, fewer batches than planned may cover everyone.
  const needed = Math.ceil(total / perBatch);
  // Batch b falls due at b × drainMs / batches; integer arithmetic keeps nextAt and dueBy consistent.
  const batchesDue = (elapsedMs: number) => (drainMs === 0 ? needed : Math.min(needed, Math.floor((Math.max(0, elapsedMs) * batches) / drainMs) + 1));
  return {
    dueBy: (elapsedMs) => Math.min(total, batchesDue(elapsedMs) * perBatch),
    nextAt: (elapsedMs) => {
      const due = batchesDue(elapsedMs);
      return due >= needed ? undefined : Math.ceil((due * drainMs) / batches);
    },
  };
}

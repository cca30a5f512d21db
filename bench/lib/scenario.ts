/**
 * The contract every benchmark scenario implements. `npm run bench` (bench/run.ts) runs the
 * registered scenarios one after another and rewrites bench/RESULTS.md from their measurements.
 */

/** One number, of one subject (ours or a peer), in one scenario. */
export interface Measurement {
  /** Scenario id, e.g. "1-broadcast". */
  scenario: string;
  /** What was measured: "notifier", "raw uWS", "ws + ioredis", "Socket.IO 4", "pgbench NOTIFY", … */
  subject: string;
  /** e.g. "deliveries/s", "p99 latency", "RSS per connection". */
  metric: string;
  value: number;
  /** e.g. "/s", "ms", "KB", "s". */
  unit: string;
  /** The target from the issue, in words, when this number has one (e.g. "≥ 0.8× raw uWS"). */
  target?: string;
  /** Whether the target is met (computed by the scenario, which knows the peers' numbers). */
  met?: boolean;
  note?: string;
}

export interface BenchContext {
  /** Shorter runs (fewer connections, shorter windows) for a quick check; RESULTS.md says so. */
  quick: boolean;
  log(message: string): void;
  /**
   * Records a parameter of this run (connections, window, rate, …) for RESULTS.md. Optional, so
   * a scenario can be run with a context that does not collect them: call it as `ctx.param?.(…)`.
   */
  param?(name: string, value: string | number): void;
  /**
   * Adds a paragraph to the scenario's section in RESULTS.md: what the numbers mean, and for a
   * target not met, the measured reason. Optional like `param`.
   */
  explain?(text: string): void;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<Measurement[]>;
}

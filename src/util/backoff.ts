/**
 * Retry timing, the one place it is computed: every reconnect and retry loop (listener session,
 * publisher, Redis connections, edge bus feed) takes its delay from `backoffDelay`, and periodic
 * standby attempts from `jitter`. Waiting itself is `setTimeout` from node:timers/promises.
 *
 * Imports: nothing.
 */

/**
 * The delay before retry number `attempt` (0 for the first): exponential growth from `baseMs`,
 * capped at `maxMs`, jittered over the upper half of that ceiling — a random integer in
 * [ceiling/2, ceiling], ceiling = min(maxMs, baseMs·2^attempt). The jitter spreads a fleet of
 * nodes that lost the same server at the same moment, so they do not retry in lockstep; the
 * lower bound keeps a retry from following a failure at once.
 */
export function backoffDelay(attempt: number, baseMs = 250, maxMs = 10_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.floor(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** `ms` ± `fraction`, for periodic retries (standby lock attempts). */
export function jitter(ms: number, fraction = 0.25): number {
  return Math.max(1, Math.round(ms * (1 - fraction + Math.random() * 2 * fraction)));
}

/** Exponential back-off with full jitter, so a fleet of nodes does not retry in lockstep. */
export function backoffDelay(attempt: number, baseMs = 250, maxMs = 10_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.floor(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** `ms` ± `fraction`, for periodic retries (standby lock attempts). */
export function jitter(ms: number, fraction = 0.25): number {
  return Math.max(1, Math.round(ms * (1 - fraction + Math.random() * 2 * fraction)));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Counters behind the per-client limits of admission.ts: open connections per key (an address or
 * a token subject) and an upgrade rate per address (a token bucket). Memory follows the clients
 * present: a key with no open connection, or a bucket full again, holds no entry. Pure but for
 * the clock handed in.
 *
 * May import nothing.
 */

/** Open connections per key; a key at zero is deleted. */
export class OpenCounts {
  private readonly counts = new Map<string, number>();

  get size(): number {
    return this.counts.size;
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const n = this.get(key) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per key: `perSecond` tokens refilled each second, at most `perSecond` held (the
 * burst). Buckets full again are dropped by a sweep at most once a second, so entries exist only
 * for keys seen within about the last two seconds.
 */
export class RateBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0)) throw new Error('perSecond must be positive');
    this.lastSweep = now();
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; false when none is left (refused). */
  take(key: string): boolean {
    const now = this.now();
    if (now - this.lastSweep >= 1000) this.sweep(now);
    const b = this.buckets.get(key);
    if (b === undefined) {
      this.buckets.set(key, { tokens: this.perSecond - 1, at: now });
      return true;
    }
    b.tokens = this.refilled(b, now);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private refilled(b: Bucket, now: number): number {
    return Math.min(this.perSecond, b.tokens + ((now - b.at) / 1000) * this.perSecond);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, b] of this.buckets) if (this.refilled(b, now) >= this.perSecond) this.buckets.delete(key);
  }
}

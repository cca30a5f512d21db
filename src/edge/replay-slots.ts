/**
 * The cap on resume replays one edge runs at once (NOTIFIER_MAX_CONCURRENT_REPLAYS): a replay
 * reads history and sends it as fast as the client takes it, so a reconnect storm would otherwise
 * start thousands together. More wait for a slot, first come first served; a connection that
 * closes while waiting leaves the queue. Waiting loses nothing: the connection stays out of its
 * topics and replays from its own offset when its turn comes. Pure.
 *
 * May import nothing.
 */
export class ReplaySlots<K> {
  private running = 0;
  /** Insertion order is FIFO order; a leaver is deleted in O(1). */
  private readonly queue = new Map<K, () => void>();

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error('max must be a positive integer');
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.size;
  }

  /** Runs `start` now if a slot is free, else when one frees up. `start` must call `release` exactly once. */
  acquire(key: K, start: () => void): void {
    if (this.running < this.max) {
      this.running += 1;
      start();
    } else {
      this.queue.set(key, start);
    }
  }

  /** A replay ended (any way): the slot goes to the longest waiting. */
  release(): void {
    const next = this.queue.entries().next();
    if (next.done) {
      this.running -= 1;
      return;
    }
    const [key, start] = next.value;
    this.queue.delete(key);
    start();
  }

  /** `key` closed: out of the queue if it waits (a running replay releases by itself). */
  leave(key: K): void {
    this.queue.delete(key);
  }
}

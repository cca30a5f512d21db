/**
 * The leader's single path to the bus. Every publish — plain notifications and outbox batches —
 * goes through one serial lane, so offsets follow the order in which batches were taken.
 *
 * Plain notifications queue in memory and are flushed in batches (one bus round trip per batch,
 * never one per notification); while the bus is down the queue is kept, up to a limit, and
 * retried with back-off. Outbox batches call `publishNow` and handle failure themselves (their
 * rows stay in PostgreSQL).
 */
import type { Bus, PublishItem } from '../bus/bus.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { backoffDelay } from '../util/backoff.js';

export interface PublisherOptions {
  bus: Bus;
  batchSize: number;
  queueLimit: number;
  logger: Logger;
  metrics: Metrics;
  /** After a batch of plain notifications left the queue, with what is still queued. */
  onSent?: (queued: number) => void;
  /** Prefix of plain batches' ids (unique to this process), see Bus.publish. */
  batchIdPrefix: string;
}

export class Publisher {
  private lane: Promise<unknown> = Promise.resolve();
  private readonly queue: PublishItem[] = [];
  private flushing = false;
  private active = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private droppedSinceLog = 0;
  /** The plain batch being published: a retry resends exactly it, under the same id. */
  private pending: { id: string; items: PublishItem[] } | undefined;
  private batchSeq = 0;

  constructor(private readonly opts: PublisherOptions) {}

  /** Starts accepting notifications (on becoming leader). */
  start(): void {
    this.active = true;
  }

  /** Stops publishing and discards queued plain notifications (on stepping down). Returns how many. */
  stop(): number {
    this.active = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const discarded = this.queue.length;
    this.queue.length = 0;
    this.pending = undefined;
    if (discarded > 0) this.opts.metrics.plainDropped.inc(discarded);
    return discarded;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Queues a plain notification for the next batch. */
  enqueue(item: PublishItem): void {
    if (!this.active) return;
    if (this.queue.length >= this.opts.queueLimit) {
      this.opts.metrics.plainDropped.inc();
      if (this.droppedSinceLog++ % 1000 === 0) {
        this.opts.logger.error(
          { event: 'publish:queue:full', limit: this.opts.queueLimit, dropped: this.droppedSinceLog },
          'plain notification queue is full (bus unavailable?); dropping notifications',
        );
      }
      return;
    }
    this.queue.push(item);
    if (!this.flushing && this.retryTimer === undefined) void this.flush();
  }

  /** Publishes a batch through the serial lane; rejects if the bus does not accept it. */
  publishNow(items: readonly PublishItem[]): Promise<string[]> {
    return this.serial(() => this.send(items));
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.active && this.queue.length > 0) {
        // The batch is taken when the lane is free, not before waiting for it: whatever arrived
        // meanwhile (the rest of a socket read, an outbox batch's duration) goes out together.
        let batch: { id: string; items: PublishItem[] } | undefined;
        try {
          await this.serial(() => {
            batch = this.pending ??= { id: `${this.opts.batchIdPrefix}${++this.batchSeq}`, items: this.queue.slice(0, this.opts.batchSize) };
            return this.send(batch.items, batch.id);
          });
        } catch (err) {
          this.scheduleRetry(err as Error);
          return;
        }
        // Only now remove them: a failed batch is retried as it was (the bus publishes a batch id once).
        if (batch === undefined || this.pending !== batch) return; // stopped meanwhile
        this.pending = undefined;
        this.queue.splice(0, batch.items.length);
        this.failures = 0;
        this.opts.onSent?.(this.queue.length);
      }
    } finally {
      this.flushing = false;
    }
  }

  private scheduleRetry(err: Error): void {
    const delay = backoffDelay(this.failures++, 100, 5000);
    this.opts.logger.warn(
      { event: 'publish:batch:error', err: err.message, queued: this.queue.length, retryInMs: delay },
      'publishing to the bus failed; retrying',
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, delay);
  }

  private async send(items: readonly PublishItem[], batchId?: string): Promise<string[]> {
    if (!this.active) throw new Error('not the leader: publishing stopped');
    try {
      const offsets = await this.opts.bus.publish(items, batchId);
      this.opts.metrics.busPublished.inc(items.length);
      this.opts.metrics.busBatchSize.observe(items.length);
      return offsets;
    } catch (err) {
      this.opts.metrics.busPublishErrors.inc();
      throw err;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lane.then(fn, fn);
    this.lane = run.catch(() => undefined);
    return run;
  }
}

/**
 * The edge's view of the bus: an unbroken, ordered feed of notifications, whatever happens to
 * the subscription.
 *
 * - Every notification carries the offset before it, and every leader heartbeat the newest
 *   offset: a gap in the middle or at the tail shows. Then live messages are held back, the
 *   missing ones are read from the history (backfill), and everything is delivered in order.
 * - After the subscription was re-established (ioredis reconnected, or we forced it) the same
 *   backfill fetches what was published meanwhile.
 * - When heartbeats stop arriving, HeartbeatWatch tells a broken subscription (re-established)
 *   from a missing leader (a cluster matter: the edge stays healthy).
 * - When the history no longer covers a gap (trimmed, or Redis lost it), the notifications are
 *   gone: `resync` tells the edge to close its connections so clients resume and learn it.
 *
 * May import the bus contract, config, observability, protocol, util and heartbeat-watch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, BusHeartbeat, BusNotification } from '../bus/bus.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { compareOffsets } from '../protocol/offsets.js';
import { backoffDelay } from '../util/backoff.js';
import { HeartbeatWatch, type HeartbeatHealth } from './heartbeat-watch.js';

export interface BusFeedOptions {
  bus: Bus;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Delivers one notification, in offset order, exactly once. */
  deliver: (n: BusNotification) => void;
  /** Called when notifications were lost for good: connected clients must resume. */
  resync: (reason: string) => void;
}

/** History entries read per round trip while backfilling. */
const BACKFILL_CHUNK = 500;
/** Back-off between failed bus reads: from ~100 ms, doubling, to at most 5 s. */
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5000;

export class BusFeed {
  /** The newest offset delivered ('' before the first is known). */
  lastOffset = '';
  epoch: string | undefined;
  private subscribed = false;
  private subscriptions = 0;
  private backfilling = false;
  private pending: BusNotification[] = [];
  private stopped = false;
  private readonly watch: HeartbeatWatch;

  constructor(private readonly opts: BusFeedOptions) {
    const { bus, logger, config } = opts;
    this.watch = new HeartbeatWatch({ bus, logger, staleMs: config.busStaleMs, isSubscribed: () => this.subscribed });
  }

  /** Subscribes (in the background: the bus retries until it can) and starts watching heartbeats. */
  start(): void {
    const { bus, logger } = this.opts;
    this.watch.start();
    bus
      .subscribe({
        onNotification: (n) => this.onNotification(n),
        onHeartbeat: (h) => this.onHeartbeat(h),
        onSubscribed: () => this.onSubscribed(),
        onUnsubscribed: () => {
          if (this.subscribed) logger.warn({ event: 'edge:bus:unsubscribed' }, 'bus subscription lost; not ready until it is back');
          this.subscribed = false;
        },
      })
      .catch((err: Error) => logger.error({ event: 'edge:bus:subscribe:error', err: err.message }, 'cannot subscribe to the bus'));
  }

  stop(): void {
    this.stopped = true;
    this.watch.stop();
  }

  /** Subscribed, position known, subscription working, not catching up. */
  isHealthy(): boolean {
    return this.subscribed && this.lastOffset !== '' && this.watch.health !== 'subscription-broken' && !this.backfilling;
  }

  get isSubscribed(): boolean {
    return this.subscribed;
  }

  get isBackfilling(): boolean {
    return this.backfilling;
  }

  get health(): HeartbeatHealth {
    return this.watch.health;
  }

  get lastHeartbeat(): BusHeartbeat | undefined {
    return this.watch.last;
  }

  /** Milliseconds since the last leader heartbeat, or null before the first. */
  heartbeatAgeMs(): number | null {
    return this.watch.ageMs();
  }

  private onNotification(n: BusNotification): void {
    this.opts.metrics.busReceived.inc();
    if (this.backfilling) {
      this.pending.push(n);
      return;
    }
    if (this.lastOffset !== '' && n.prev !== this.lastOffset) {
      this.reportGap(n.prev);
      this.pending.push(n);
      void this.backfill('gap');
      return;
    }
    this.accept(n);
  }

  private accept(n: BusNotification): void {
    this.lastOffset = n.offset;
    this.opts.deliver(n);
  }

  private onHeartbeat(h: BusHeartbeat): void {
    const epochChanged = this.epoch !== undefined && h.epoch !== this.epoch;
    this.watch.heard(h);
    if (this.backfilling) return; // a running backfill finds a new epoch itself (incomplete history)
    if (epochChanged) {
      // Redis lost its history: whatever this edge had not yet received is gone, and every
      // client's offsets belong to the old epoch. They resume and get reset.
      void this.exclusive(() => this.adoptCurrentHistory('new epoch'));
      return;
    }
    this.epoch = h.epoch;
    if (this.lastOffset === '') {
      this.lastOffset = h.last;
    } else if (h.last !== this.lastOffset) {
      // Heartbeats travel the same channel as notifications, after them: the newest offset they
      // carry must be the last one delivered, else the tail of the stream went missing.
      this.reportGap(h.last);
      void this.backfill('tail gap');
    }
  }

  private onSubscribed(): void {
    this.subscribed = true;
    this.watch.subscribed();
    this.opts.logger.info({ event: 'edge:bus:subscribed' }, 'subscribed to the bus');
    if (this.subscriptions++ > 0 && this.lastOffset !== '') {
      // Whatever was published while the subscription was down is only in the history now.
      void this.backfill('resubscribed');
      return;
    }
    // The epoch and position for `welcome` and resume before the first heartbeat arrives.
    this.opts.bus.position().then(
      (p) => {
        this.epoch ??= p.epoch ?? undefined;
        if (this.lastOffset === '') this.lastOffset = p.last;
      },
      () => undefined,
    );
  }

  /**
   * Reads the history after lastOffset and delivers it, then the live messages held back
   * meanwhile, skipping what was already delivered. Runs until the held-back messages connect.
   */
  private backfill(reason: string): Promise<void> {
    return this.exclusive(async () => {
      const { bus, logger, metrics } = this.opts;
      const from = this.lastOffset;
      let fetched = 0;
      for (let attempt = 0; !this.stopped; ) {
        try {
          const page = await bus.readAfter(this.lastOffset, BACKFILL_CHUNK);
          if (!page.complete) {
            await this.adoptCurrentHistory(reason);
            continue; // go on from the adopted position
          }
          for (const n of page.items) {
            if (compareOffsets(n.offset, this.lastOffset) > 0) {
              this.accept(n);
              fetched += 1;
            }
          }
          const connected = this.flushPending();
          if (page.items.length === 0) {
            // Nothing more in the history, yet the held-back messages do not follow on.
            if (!connected) await this.adoptCurrentHistory(reason);
            if (this.pending.length === 0) break;
            continue;
          }
          if (connected && page.items.length < BACKFILL_CHUNK) break;
          attempt = 0;
        } catch (err) {
          logger.warn({ event: 'edge:backfill:error', err: (err as Error).message }, 'backfill read failed; retrying');
          await sleep(backoffDelay(attempt++, RETRY_BASE_MS, RETRY_MAX_MS));
        }
      }
      metrics.backfilled.inc(fetched);
      logger.info({ event: 'edge:backfill:done', reason, from, to: this.lastOffset, fetched }, `backfilled ${fetched} notification(s) (${reason})`);
    });
  }

  /** Runs `fn` with live messages held back (they queue in `pending`); one at a time. */
  private async exclusive(fn: () => Promise<void>): Promise<void> {
    if (this.backfilling || this.stopped) return;
    this.backfilling = true;
    try {
      await fn();
    } finally {
      this.backfilling = false;
    }
    // Whatever arrived meanwhile and connects is delivered; a remaining gap starts over.
    if (!this.flushPending()) void this.backfill('gap after backfill');
  }

  /** Delivers held-back messages that follow on; true when none is left waiting for a gap to fill. */
  private flushPending(): boolean {
    while (this.pending.length > 0) {
      const n = this.pending[0]!;
      if (compareOffsets(n.offset, this.lastOffset) <= 0) {
        this.pending.shift(); // already delivered from the history
      } else if (n.prev === this.lastOffset) {
        this.pending.shift();
        this.accept(n);
      } else {
        return false;
      }
    }
    return true;
  }

  /**
   * What this edge missed is no longer in the history (trimmed, or Redis lost it). Adopt the
   * bus's current epoch and position first — so clients that come back are reset against the
   * new state, and the next notification does not look like yet another gap — then close every
   * connection once so clients resume and learn it.
   */
  private async adoptCurrentHistory(reason: string): Promise<void> {
    const { bus, logger, metrics } = this.opts;
    let position;
    for (let attempt = 0; position === undefined && !this.stopped; attempt++) {
      position = await bus.position().catch(() => sleep(backoffDelay(attempt, RETRY_BASE_MS, RETRY_MAX_MS), undefined));
    }
    if (position === undefined) return;
    metrics.resyncs.inc();
    logger.error(
      { event: 'edge:backfill:history-lost', reason, after: this.lastOffset, epoch: position.epoch, now: position.last },
      'notifications this edge missed are no longer in the history; closing connections so clients resume (they get reset)',
    );
    if (position.epoch !== null) this.epoch = position.epoch;
    this.lastOffset = position.last;
    this.flushPending();
    this.opts.resync(reason);
  }

  private reportGap(expected: string): void {
    this.opts.metrics.busGaps.inc();
    this.opts.logger.warn({ event: 'edge:bus:gap', after: this.lastOffset, expected }, 'offset gap on the bus subscription; backfilling');
  }
}

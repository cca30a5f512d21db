/**
 * Backpressure from the bus to PostgreSQL. While more plain notifications wait for the bus than
 * `high`, the leader stops reading its LISTEN socket: PostgreSQL keeps the rest in its own
 * notification queue (up to 8 GB; see pg_notification_queue_usage()) instead of this process's
 * memory, where the queue limit would drop them. Reading resumes at `low`.
 *
 * The same session answers the leader's lock checks, and a paused socket would hold their
 * replies, so: no pause while a check is in flight (`canPause`), no check while paused (the
 * caller skips it), and reading resumes after `maxPauseMs` whatever the queue, so checks still
 * run when the bus is down (then the queue limit applies, as before).
 *
 * Imports: config/ and observability/ types, pg types.
 */
import type pg from 'pg';
import type { DatabaseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

export interface ListenFlowOptions {
  high: number;
  low: number;
  maxPauseMs: number;
  canPause: () => boolean;
  onPause?: () => void;
  now?: () => number;
}

export class ListenFlow {
  private pausedAt: number | undefined;
  private readonly now: () => number;

  constructor(
    private readonly socket: Pausable,
    private readonly opts: ListenFlowOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get paused(): boolean {
    return this.pausedAt !== undefined;
  }

  /** After a notification was queued. */
  queued(size: number): void {
    if (this.pausedAt !== undefined || size < this.opts.high || !this.opts.canPause()) return;
    this.pausedAt = this.now();
    this.socket.pause();
    this.opts.onPause?.();
  }

  /** After a batch left the queue, and on every heartbeat tick (for maxPauseMs). */
  drained(size: number): void {
    if (this.pausedAt === undefined) return;
    if (size > this.opts.low && this.now() - this.pausedAt < this.opts.maxPauseMs) return;
    this.release();
  }

  /** Reads again (on stepping down, the session is ended or reused as a standby's). */
  release(): void {
    if (this.pausedAt === undefined) return;
    this.pausedAt = undefined;
    this.socket.resume();
  }
}

export interface ListenFlowContext {
  config: DatabaseConfig;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Flow control for a leader session's socket, with thresholds from the publish batch size and the
 * plain queue limit; none (with a warning) if pg's internals changed shape.
 */
export function listenFlowFor(client: pg.Client, canPause: () => boolean, ctx: ListenFlowContext): ListenFlow | undefined {
  const { config, logger, metrics } = ctx;
  const socket = (client as unknown as { connection?: { stream?: Partial<Pausable> } }).connection?.stream;
  if (typeof socket?.pause !== 'function' || typeof socket.resume !== 'function') {
    logger.warn({ event: 'leader:flow:unavailable' }, 'cannot pause the LISTEN socket (pg internals changed?): a full publish queue drops plain notifications');
    return undefined;
  }
  const high = Math.max(100, Math.min(config.publishBatchSize * 10, Math.floor(config.plainQueueLimit / 2)));
  return new ListenFlow(socket as Pausable, {
    high,
    low: Math.floor(high / 2),
    maxPauseMs: config.leaderQueryTimeoutMs,
    canPause,
    onPause: () => metrics.listenPauses.inc(),
  });
}

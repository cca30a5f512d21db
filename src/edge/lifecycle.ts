/**
 * What happens to all of an edge's connections at once, whatever their transport (WebSocket,
 * SSE): the periodic slow-consumer and token-expiry sweep, the resync after lost notifications,
 * and the graceful drain on shutdown (every transport's connections in one schedule, batches
 * spread over NOTIFIER_DRAIN_SECONDS by drain-schedule.ts, so clients reconnect elsewhere
 * without a herd).
 *
 * May import config and observability types, protocol, drain-schedule and the transport contract.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import { drainSchedule } from './drain-schedule.js';
import type { Connections } from './transport.js';

/** One transport's connections (method syntax: a group of any handle type is a ConnectionGroup). */
export interface ConnectionGroup<C = unknown> {
  readonly connections: Connections<C>;
  /** Names a connection in logs (its client_id). */
  describe(c: C): string;
}

export interface LifecycleOptions {
  groups: readonly ConnectionGroup[];
  config: Pick<Config, 'maxBackpressureBytes' | 'slowConsumerCheckMs' | 'drainSeconds'>;
  metrics: Metrics;
  logger: Logger;
  /** A token is closed this long after its `exp` (NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS). */
  expiryGraceMs?: number;
}

export class Lifecycle {
  /** True from the start of the drain: readiness false, upgrades refused. */
  draining = false;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LifecycleOptions) {}

  startSweeping(): void {
    this.sweepTimer = setInterval(() => this.sweep(), this.opts.config.slowConsumerCheckMs);
  }

  /** Closes every connection with 1012 in batches spread over NOTIFIER_DRAIN_SECONDS. */
  async drain(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweepTimer);
    const { groups, config } = this.opts;
    const all = groups.flatMap((g) => g.connections.snapshot().map((c) => ({ g, c })));
    const schedule = drainSchedule(all.length, config.drainSeconds * 1000);
    const started = Date.now();
    for (let closed = 0; closed < all.length; ) {
      const elapsed = Date.now() - started;
      for (const due = schedule.dueBy(elapsed); closed < due; closed++) {
        const { g, c } = all[closed]!;
        g.connections.close(c, CloseCode.ServiceRestart, 'server restarting');
      }
      const next = schedule.nextAt(elapsed);
      if (next !== undefined) await sleep(Math.max(0, started + next - Date.now()));
    }
  }

  /**
   * Notifications this edge missed are gone from the history: close every connection so its
   * client resumes (on any edge) and learns it from `reset`, rather than silently missing them.
   */
  resync(): void {
    for (const { connections } of this.opts.groups) {
      for (const c of connections.snapshot()) connections.close(c, CloseCode.Resync, 'notifications were lost on this edge: reconnect and resume');
    }
  }

  /**
   * Closes connections whose token expired (4004: reconnect with a fresh token), and those whose
   * outbound buffer is over the limit (4001: they reconnect). The close frame queues behind the
   * unread data; uWS times the socket out if it is never read. One pass over the connections
   * serves both: no timer per connection.
   */
  private sweep(): void {
    const expiredBefore = (Date.now() - (this.opts.expiryGraceMs ?? 0)) / 1000;
    for (const group of this.opts.groups) this.sweepGroup(group, expiredBefore);
  }

  private sweepGroup({ connections, describe }: ConnectionGroup, expiredBefore: number): void {
    const { config, metrics, logger } = this.opts;
    for (const c of connections.snapshot()) {
      if (connections.state(c).peer.exp <= expiredBefore) {
        metrics.tokenExpiryCloses.inc();
        connections.close(c, CloseCode.TokenExpired, 'token expired: reconnect with a fresh token');
        continue;
      }
      const buffered = connections.bufferedAmount(c);
      if (buffered > config.maxBackpressureBytes) {
        metrics.slowConsumerCloses.inc();
        logger.debug({ event: 'edge:connection:slow', client: describe(c), buffered }, 'closing a slow consumer');
        connections.close(c, CloseCode.SlowConsumer, 'slow consumer: outbound buffer limit reached');
      }
    }
  }
}

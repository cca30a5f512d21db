/**
 * The listener role (DESIGN §1–3): one PostgreSQL session at a time, which it uses first to wait
 * for leadership, then to lead; on any failure it destroys the session and reconnects with
 * jittered back-off. The jobs live in their own files:
 *
 *   leader-lock.ts         the advisory lock: standby loop, lock check, hand-over on shutdown
 *   leader-term.ts         one term as leader: LISTEN, outbox drain, bus heartbeat, step-down
 *   plain-notifications.ts a LISTEN notification → bus item; the lost-while-leaderless report
 *   publisher.ts           the single publish lane to the bus (plain batches and outbox batches)
 *   outbox-drainer.ts      the outbox, on its own connection
 *   listen-flow.ts         backpressure from the publish queue onto the LISTEN socket
 *   pg-session.ts          the tuned pg.Client and its query timeouts
 *   session-watch.ts       "this session is over", as a promise that never rejects
 *
 * Imports: listener/, bus/ and config/ types, observability/, util/; never edge/.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { Bus } from '../bus/bus.js';
import type { DatabaseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { backoffDelay } from '../util/backoff.js';
import { releaseLock, waitForLock } from './leader-lock.js';
import { LeaderTerm } from './leader-term.js';
import { DatabaseUnreachableError, destroySession, openSession } from './pg-session.js';
import { Publisher } from './publisher.js';
import { SessionWatch } from './session-watch.js';

export type ListenerState = 'connecting' | 'standby' | 'leader' | 'stopped';

export interface ListenerOptions {
  config: DatabaseConfig;
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
}

export class Listener {
  readonly id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private state: ListenerState = 'connecting';
  private lastHealthyAt = 0;
  private readonly abort = new AbortController();
  private readonly aborted: Promise<void>;
  private readonly publisher: Publisher;
  /** The current term while leading. */
  private term: LeaderTerm | undefined;
  private running: Promise<void> | undefined;
  private sessions = 0;
  private connectFailures = 0;

  constructor(private readonly opts: ListenerOptions) {
    const { config, bus, logger, metrics } = opts;
    this.publisher = new Publisher({
      bus,
      batchSize: config.publishBatchSize,
      queueLimit: config.plainQueueLimit,
      logger,
      metrics,
      onSent: (queued) => this.term?.flow?.drained(queued),
      batchIdPrefix: `${this.id}:`,
    });
    this.aborted = new Promise((r) => this.abort.signal.addEventListener('abort', () => r(), { once: true }));
    metrics.leader.set(0);
  }

  get role(): ListenerState {
    return this.state;
  }

  get isLeader(): boolean {
    return this.state === 'leader' && this.term?.ready === true;
  }

  /** Ready: the leader once it listens and has drained the outbox, or a standby whose connection is healthy. */
  isReady(): boolean {
    if (this.state === 'leader') return this.term?.ready === true;
    const c = this.opts.config;
    return this.state === 'standby' && Date.now() - this.lastHealthyAt < c.standbyRetryMs * 2 + c.leaderQueryTimeoutMs;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Steps down, releases the lock and disconnects. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.state = 'stopped';
  }

  private async run(): Promise<void> {
    const { config, logger } = this.opts;
    const signal = this.abort.signal;
    const onHealthy = () => (this.lastHealthyAt = Date.now());
    let attempt = 0;
    while (!signal.aborted) {
      const watch = new SessionWatch();
      let client: pg.Client | undefined;
      try {
        this.state = 'connecting';
        client = await openSession({
          databaseUrl: config.databaseUrl,
          applicationName: 'notifier-listener',
          sessionTimeoutMs: config.pgSessionTimeoutMs,
          queryTimeoutMs: config.leaderQueryTimeoutMs,
          onError: (err) => watch.fail(`connection error: ${err.message}`),
        });
        client.on('end', () => watch.fail('connection ended'));
        if (this.sessions++ > 0) this.opts.metrics.pgReconnects.inc();
        if (this.connectFailures > 0) {
          logger.info({ event: 'pg:connection:restored', failures: this.connectFailures }, 'PostgreSQL connection restored');
        }
        this.connectFailures = 0;
        attempt = 0;
        this.state = 'standby';
        const won = await waitForLock(client, watch, { config, logger, nodeId: this.id, signal, onHealthy });
        if (won) await this.lead(client, watch, onHealthy);
      } catch (err) {
        this.logSessionError(err as Error);
      } finally {
        if (client) destroySession(client);
      }
      // Aborted: the wait rejects, and the loop ends.
      if (!signal.aborted) await delay(backoffDelay(attempt++, 250, 5000), undefined, { signal }).catch(() => undefined);
    }
  }

  private async lead(client: pg.Client, watch: SessionWatch, onHealthy: () => void): Promise<void> {
    const { config, bus, logger, metrics } = this.opts;
    this.state = 'leader';
    this.term = new LeaderTerm(client, watch, {
      config,
      bus,
      logger,
      metrics,
      publisher: this.publisher,
      nodeId: this.id,
      aborted: this.aborted,
      signal: this.abort.signal,
      onHealthy,
    });
    try {
      await this.term.run();
    } finally {
      this.term = undefined;
      this.state = 'standby';
    }
    if (this.abort.signal.aborted && !watch.lost) await releaseLock(client, config.lockId);
  }

  private logSessionError(err: Error): void {
    if (this.abort.signal.aborted) return;
    const { logger } = this.opts;
    if (err instanceof DatabaseUnreachableError) {
      // The first failure of an outage, then every 10th.
      if (this.connectFailures++ % 10 === 0) {
        logger.error({ event: 'pg:connection:error', failures: this.connectFailures }, `${err.message} Retrying with back-off.`);
      }
      return;
    }
    logger.warn({ event: 'pg:session:error', err: err.message }, 'listener session failed; reconnecting');
  }
}

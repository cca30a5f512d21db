/**
 * The listener role: leader election on PostgreSQL, LISTEN + outbox drain, publish to the bus.
 *
 * Election: a session-level advisory lock taken on the LISTEN connection itself, so the lock
 * dies with the connection. Standbys retry every ~standbyRetryMs with jitter. The leader
 * re-checks its lock every leaderHeartbeatMs with a deadline below the server-side session
 * timeouts; when it cannot confirm the lock in time it steps down (stops publishing) before
 * PostgreSQL could hand the lock to a standby. On stop (SIGTERM) it unlocks and disconnects at
 * once, so a standby takes over within about a second.
 *
 * After (re)connecting: LISTEN again, then drain the outbox at once — wake-ups sent while no
 * session listened are lost, the rows are not.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Bus } from '../bus/bus.js';
import type { DatabaseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { envelopeFromText } from '../protocol/envelope.js';
import { frameHead } from '../protocol/frame.js';
import { backoffDelay, jitter, sleep } from '../util/backoff.js';
import { OUTBOX_WAKEUP_CHANNEL, OutboxDrainer } from './outbox-drainer.js';
import { DatabaseUnreachableError, destroySession, openSession, query } from './pg-session.js';
import { LabelFolder } from '../observability/label-folder.js';
import { ListenFlow, type Pausable } from './listen-flow.js';
import { Publisher } from './publisher.js';

/** First key of the two-key advisory lock: "noti". The second is config.lockId. */
export const LOCK_NAMESPACE = 0x6e6f7469;

/**
 * A leader that shuts down unlocks, then NOTIFYs this channel: standbys LISTEN on it and try the
 * lock at once instead of at their next retry, so a SIGTERM hand-over takes milliseconds.
 */
export const HANDOVER_CHANNEL = 'notifier_handover';

export type ListenerState = 'connecting' | 'standby' | 'leader' | 'stopped';

export interface ListenerOptions {
  config: DatabaseConfig;
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
}

/** Resolves (never rejects) when the session fails; a rejected race would go unhandled. */
class SessionWatch {
  lost = false;
  reason = '';
  readonly done: Promise<void>;
  private resolve!: () => void;
  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }
  fail(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.reason = reason;
    this.resolve();
  }
}

export class Listener {
  readonly id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private state: ListenerState = 'connecting';
  private leaderReady = false;
  private lastHealthyAt = 0;
  private readonly abort = new AbortController();
  private readonly aborted: Promise<void>;
  private readonly publisher: Publisher;
  /** Backpressure on the LISTEN socket while leading (see ListenFlow). */
  private flow: ListenFlow | undefined;
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
      onSent: (queued) => this.flow?.drained(queued),
      batchIdPrefix: `${this.id}:`,
    });
    this.aborted = new Promise((r) => this.abort.signal.addEventListener('abort', () => r(), { once: true }));
    metrics.leader.set(0);
    metrics.setReadiness(() => this.isReady());
  }

  get role(): ListenerState {
    return this.state;
  }

  get isLeader(): boolean {
    return this.state === 'leader' && this.leaderReady;
  }

  /** Ready: the leader once it listens and has drained the outbox, or a standby whose connection is healthy. */
  isReady(): boolean {
    if (this.state === 'leader') return this.leaderReady;
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
    let attempt = 0;
    while (!this.abort.signal.aborted) {
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
        if (await this.waitForLock(client, watch)) await this.lead(client, watch);
      } catch (err) {
        this.logSessionError(err as Error);
      } finally {
        if (client) destroySession(client);
      }
      if (!this.abort.signal.aborted) await sleep(backoffDelay(attempt++, 250, 5000), this.abort.signal);
    }
  }

  private async waitForLock(client: pg.Client, watch: SessionWatch): Promise<boolean> {
    const { config, logger } = this.opts;
    this.state = 'standby';
    let announced = false;
    let wake = () => undefined as void;
    const onHandover = (msg: pg.Notification) => {
      if (msg.channel === HANDOVER_CHANNEL) wake();
    };
    client.on('notification', onHandover);
    try {
      await query(client, `LISTEN ${HANDOVER_CHANNEL}`, [], config.leaderQueryTimeoutMs);
      while (!this.abort.signal.aborted && !watch.lost) {
        const handover = new Promise<void>((resolve) => (wake = resolve));
        const { rows } = await query<{ ok: boolean }>(
          client,
          'SELECT pg_try_advisory_lock($1, $2) AS ok',
          [LOCK_NAMESPACE, config.lockId],
          config.leaderQueryTimeoutMs,
        );
        this.lastHealthyAt = Date.now();
        if (rows[0]?.ok) return true;
        if (!announced) {
          announced = true;
          logger.info({ event: 'leader:standby', node: this.id }, 'another listener is the leader; standing by');
        }
        await Promise.race([sleep(jitter(config.standbyRetryMs), this.abort.signal), watch.done, handover]);
      }
      return false;
    } finally {
      client.removeListener('notification', onHandover);
    }
  }

  private async lead(client: pg.Client, watch: SessionWatch): Promise<void> {
    const { config, bus, logger, metrics } = this.opts;
    const t = config.leaderQueryTimeoutMs;
    this.state = 'leader';
    metrics.leader.set(1);
    metrics.failovers.inc();
    logger.info({ event: 'leader:acquired', node: this.id }, 'became the leader');

    const drainer = config.outboxEnabled
      ? new OutboxDrainer({
          session: { databaseUrl: config.databaseUrl, sessionTimeoutMs: config.pgSessionTimeoutMs, queryTimeoutMs: t },
          batchSize: config.outboxBatchSize,
          publish: (items) => this.publisher.publishNow(items),
          logger,
          metrics,
          channelLabel: (channel) => receivedOn.fold(channel),
        })
      : undefined;
    // Per-channel counters, looked up once (label hashing per notification showed in profiles).
    const receivedOn = new LabelFolder(config.channels, (channel) => metrics.pgReceived.labels({ channel, source: 'notify' }));
    const onNotification = (msg: pg.Notification) => {
      if (msg.channel === OUTBOX_WAKEUP_CHANNEL) {
        void drainer?.request();
        return;
      }
      if (msg.channel === HANDOVER_CHANNEL) return; // still LISTENed from standby days
      const receivedAt = Date.now();
      const built = envelopeFromText(msg.channel, msg.payload ?? '', new Date(receivedAt));
      receivedOn.for(msg.channel).inc();
      if (!built.payloadWasJson) metrics.pgNonJson.inc();
      this.publisher.enqueue({
        id: '', // one leader session receives each plain NOTIFY; retries are covered by the batch id
        head: frameHead(built.envelope, built.payloadJson),
        keys: built.keys,
        notificationType: msg.channel,
        // The payload's own timestamp when it has a valid one (else it is the receipt time).
        sourceTime: Date.parse(built.envelope.timestamp),
      });
      this.flow?.queued(this.publisher.queued);
    };

    const timers: NodeJS.Timeout[] = [];
    let stepDownReason = '';
    try {
      this.publisher.start();
      client.on('notification', onNotification);
      const channels = [...new Set(config.channels)];
      if (drainer) channels.push(OUTBOX_WAKEUP_CHANNEL);
      for (const ch of channels) await query(client, `LISTEN ${client.escapeIdentifier(ch)}`, [], t);
      logger.info({ event: 'leader:listen:success', channels }, `listening on ${channels.length} channel(s)`);
      await this.reportPlainGap();

      const publishHeartbeat = () =>
        bus.heartbeat(this.id).catch((err: Error) => logger.debug({ event: 'bus:heartbeat:error', err: err.message }, 'bus heartbeat failed'));
      void publishHeartbeat();
      timers.push(setInterval(publishHeartbeat, config.busHeartbeatMs));

      if (drainer) {
        await drainer.drainAll().catch((err: Error) => drainer.report(err));
        timers.push(setInterval(() => void drainer.request(), config.outboxPollMs));
      }
      this.leaderReady = true;

      const stepDown = new SessionWatch();
      let checking = false;
      this.flow = this.listenFlow(client, () => !checking);
      timers.push(
        setInterval(() => {
          this.flow?.drained(this.publisher.queued);
          if (checking || this.flow?.paused) return;
          checking = true;
          this.checkLock(client).then(
            (held) => {
              checking = false;
              if (!held) stepDown.fail('advisory lock no longer held');
            },
            (err: Error) => {
              checking = false;
              stepDown.fail(`heartbeat failed: ${err.message}`);
            },
          );
        }, config.leaderHeartbeatMs),
      );

      await Promise.race([watch.done, stepDown.done, this.aborted]);
      stepDownReason = this.abort.signal.aborted ? 'shutdown' : watch.lost ? watch.reason : stepDown.reason;
    } catch (err) {
      stepDownReason = `error: ${(err as Error).message}`;
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.flow?.release();
      this.flow = undefined;
      client.removeListener('notification', onNotification);
      const discarded = this.publisher.stop();
      await drainer?.stop();
      this.leaderReady = false;
      this.state = 'standby';
      metrics.leader.set(0);
      metrics.stepDowns.inc({ reason: stepDownReason.startsWith('shutdown') ? 'shutdown' : stepDownReason.split(':')[0] ?? 'error' });
      logger.warn(
        { event: 'leader:released', node: this.id, reason: stepDownReason, discardedPlain: discarded },
        `stepped down as leader (${stepDownReason})`,
      );
    }
    if (this.abort.signal.aborted && !watch.lost) {
      // Hand over at once instead of waiting for the server to notice the disconnect, and wake
      // the standbys (the NOTIFY is delivered when this autocommit statement commits, after the unlock).
      await query(client, `SELECT pg_advisory_unlock($1, $2), pg_notify('${HANDOVER_CHANNEL}', '')`, [LOCK_NAMESPACE, this.opts.config.lockId], 1000).catch(
        () => undefined,
      );
    }
  }

  /** Flow control for this session's socket; none (with a warning) if pg's internals changed shape. */
  private listenFlow(client: pg.Client, canPause: () => boolean): ListenFlow | undefined {
    const { config, logger, metrics } = this.opts;
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

  /**
   * PostgreSQL drops NOTIFYs sent while no session listens. Before our first heartbeat, the bus
   * still holds the previous leader's last one: from then until our LISTEN, plain notifications
   * were lost. Say so, with the window, and count it (outbox rows are not affected).
   */
  private async reportPlainGap(): Promise<void> {
    const { bus, logger, metrics } = this.opts;
    const previous = await bus.leaderHeartbeatAt().catch(() => undefined);
    if (previous === undefined) return; // bus unreachable: unknown
    if (previous === null) {
      logger.info(
        { event: 'leader:plain-gap', windowSeconds: null },
        'no leader heartbeat in the last minute (first start, or a long outage): plain NOTIFYs sent while no listener led were not received',
      );
      return;
    }
    const windowSeconds = Math.max(0, (Date.now() - previous) / 1000);
    metrics.plainUnheard.inc(windowSeconds);
    logger.warn(
      { event: 'leader:plain-gap', windowSeconds, since: new Date(previous).toISOString() },
      `plain NOTIFYs sent in the ${windowSeconds.toFixed(1)} s before this listener took over were lost (outbox notifications are not)`,
    );
  }

  private async checkLock(client: pg.Client): Promise<boolean> {
    const { config, metrics } = this.opts;
    const { rows } = await query<{ held: boolean; usage: number; backlog: string | null }>(
      client,
      `SELECT EXISTS (SELECT 1 FROM pg_locks
                       WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                         AND classid = $1::oid AND objid = $2::oid AND objsubid = 2) AS held,
              pg_notification_queue_usage() AS usage,
              (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass('notifier.outbox')) AS backlog`,
      [LOCK_NAMESPACE, config.lockId],
      config.leaderQueryTimeoutMs,
    );
    const row = rows[0];
    this.lastHealthyAt = Date.now();
    if (!row) return false;
    metrics.notifyQueueUsage.set(Number(row.usage));
    if (row.backlog !== null) metrics.outboxBacklog.set(Number(row.backlog));
    return row.held;
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

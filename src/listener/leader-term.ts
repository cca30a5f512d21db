/**
 * One term as leader, from winning the lock to stepping down, on the session that holds it:
 *
 * 1. LISTEN on the configured channels (and the outbox wake-up channel), then report the plain
 *    notifications lost while no listener led;
 * 2. publish the bus heartbeat every busHeartbeatMs;
 * 3. drain the outbox at once — wake-ups sent while no session listened are lost, the rows are
 *    not — then poll it every outboxPollMs; only then is the leader ready;
 * 4. every leaderHeartbeatMs, re-check the lock (leader-lock.checkLock) and release the LISTEN
 *    socket's backpressure (listen-flow.ts) when it can;
 * 5. end when the session is lost, the lock cannot be confirmed, or shutdown begins: stop
 *    publishing, count and log the step-down with its reason.
 *
 * Imports: listener/, bus/, config/ and observability/ types, pg types.
 */
import type pg from 'pg';
import type { Bus } from '../bus/bus.js';
import type { DatabaseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { checkLock, HANDOVER_CHANNEL } from './leader-lock.js';
import { listenFlowFor, type ListenFlow } from './listen-flow.js';
import { OUTBOX_WAKEUP_CHANNEL, OutboxDrainer } from './outbox-drainer.js';
import { query } from './pg-session.js';
import { PlainNotifications, reportPlainGap } from './plain-notifications.js';
import type { Publisher } from './publisher.js';
import { SessionWatch } from './session-watch.js';

export interface LeaderTermOptions {
  config: DatabaseConfig;
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
  /** The listener's publish lane, shared by its terms. */
  publisher: Publisher;
  nodeId: string;
  /** Resolves when shutdown begins. */
  aborted: Promise<void>;
  signal: AbortSignal;
  /** The session answered a lock check. */
  onHealthy: () => void;
}

export class LeaderTerm {
  /** Listening, and the outbox drained once: the leader may report ready. */
  ready = false;
  /** Backpressure on the LISTEN socket (see ListenFlow), while the term runs. */
  flow: ListenFlow | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly watch: SessionWatch,
    private readonly opts: LeaderTermOptions,
  ) {}

  /** Runs the term; resolves (never rejects) once it has stepped down. */
  async run(): Promise<void> {
    const { client, watch } = this;
    const { config, bus, logger, metrics, publisher } = this.opts;
    const t = config.leaderQueryTimeoutMs;
    metrics.leader.set(1);
    metrics.failovers.inc();
    logger.info({ event: 'leader:acquired', node: this.opts.nodeId }, 'became the leader');

    const plain = new PlainNotifications(config, metrics, logger);
    const drainer = config.outboxEnabled
      ? new OutboxDrainer({
          session: { databaseUrl: config.databaseUrl, sessionTimeoutMs: config.pgSessionTimeoutMs, queryTimeoutMs: t },
          batchSize: config.outboxBatchSize,
          publish: (items) => publisher.publishNow(items),
          logger,
          metrics,
          channelLabel: (channel) => plain.receivedOn.fold(channel),
        })
      : undefined;
    const onNotification = (msg: pg.Notification) => {
      if (msg.channel === OUTBOX_WAKEUP_CHANNEL) {
        void drainer?.request();
        return;
      }
      if (msg.channel === HANDOVER_CHANNEL) return; // still LISTENed from standby days
      const item = plain.toItem(msg);
      if (item === undefined) return;
      publisher.enqueue(item);
      this.flow?.queued(publisher.queued);
    };

    const timers: NodeJS.Timeout[] = [];
    let stepDownReason = '';
    try {
      publisher.start();
      client.on('notification', onNotification);
      const channels = [...new Set(config.channels)];
      if (drainer) channels.push(OUTBOX_WAKEUP_CHANNEL);
      for (const ch of channels) await query(client, `LISTEN ${client.escapeIdentifier(ch)}`, [], t);
      logger.info({ event: 'leader:listen:success', channels }, `listening on ${channels.length} channel(s)`);
      await reportPlainGap(bus, logger, metrics);

      const publishHeartbeat = () =>
        bus.heartbeat(this.opts.nodeId).catch((err: Error) => logger.debug({ event: 'bus:heartbeat:error', err: err.message }, 'bus heartbeat failed'));
      void publishHeartbeat();
      timers.push(setInterval(publishHeartbeat, config.busHeartbeatMs));

      if (drainer) {
        await drainer.drainAll().catch((err: Error) => drainer.report(err));
        timers.push(setInterval(() => void drainer.request(), config.outboxPollMs));
      }
      this.ready = true;

      const stepDown = new SessionWatch();
      timers.push(this.watchLock(stepDown));
      await Promise.race([watch.done, stepDown.done, this.opts.aborted]);
      stepDownReason = this.opts.signal.aborted ? 'shutdown' : watch.lost ? watch.reason : stepDown.reason;
    } catch (err) {
      stepDownReason = `error: ${(err as Error).message}`;
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.flow?.release();
      this.flow = undefined;
      client.removeListener('notification', onNotification);
      const discarded = publisher.stop();
      await drainer?.stop();
      this.ready = false;
      metrics.leader.set(0);
      metrics.stepDowns.inc({ reason: stepDownReason.startsWith('shutdown') ? 'shutdown' : stepDownReason.split(':')[0] ?? 'error' });
      logger.warn(
        { event: 'leader:released', node: this.opts.nodeId, reason: stepDownReason, discardedPlain: discarded },
        `stepped down as leader (${stepDownReason})`,
      );
    }
  }

  /**
   * Every leaderHeartbeatMs: lets a paused LISTEN socket read again when it may, and confirms the
   * lock — never while the socket is paused (the reply would wait behind it), and no pause while
   * a check is in flight. `stepDown` fails when the lock is gone or cannot be confirmed in time.
   */
  private watchLock(stepDown: SessionWatch): NodeJS.Timeout {
    const { config, metrics, publisher } = this.opts;
    let checking = false;
    this.flow = listenFlowFor(this.client, () => !checking, this.opts);
    return setInterval(() => {
      this.flow?.drained(publisher.queued);
      if (checking || this.flow?.paused) return;
      checking = true;
      checkLock(this.client, config, metrics).then(
        (held) => {
          checking = false;
          this.opts.onHealthy();
          if (!held) stepDown.fail('advisory lock no longer held');
        },
        (err: Error) => {
          checking = false;
          stepDown.fail(`heartbeat failed: ${err.message}`);
        },
      );
    }, config.leaderHeartbeatMs);
  }
}

/**
 * Every Prometheus metric of the notifier (DESIGN §9), prefixed `notifier_`. One registry per
 * process, holding every metric whatever the role (a listener's edge metrics stay at zero), so
 * dashboards can rely on the names. No per-user or per-connection labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'notifier_' });
  const r = [registry];
  // What notifier_ready reports: set by the role whose /ready this process serves (the edge's in `start`).
  let readiness: () => boolean = () => false;

  return {
    registry,
    /** Makes notifier_ready report `check()` (1/0) at each scrape: the same test as the process's /ready. */
    setReadiness(check: () => boolean): void {
      readiness = check;
    },
    ready: new Gauge({
      name: 'notifier_ready',
      help: '1 while this process\'s /ready answers 200 (evaluated at each scrape), else 0',
      registers: r,
      collect() {
        this.set(readiness() ? 1 : 0);
      },
    }),
    // listener
    leader: new Gauge({ name: 'notifier_leader', help: '1 while this listener is the leader, else 0', registers: r }),
    failovers: new Counter({
      name: 'notifier_leader_acquired_total',
      help: 'Times this listener became leader',
      registers: r,
    }),
    stepDowns: new Counter({
      name: 'notifier_leader_step_downs_total',
      help: 'Times this listener stopped being leader, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    pgReconnects: new Counter({
      name: 'notifier_pg_reconnects_total',
      help: 'PostgreSQL connections re-established by the listener',
      registers: r,
    }),
    pgReceived: new Counter({
      name: 'notifier_pg_notifications_received_total',
      help: 'Notifications received from PostgreSQL, by channel (outbox rows under their channel; channels outside NOTIFIER_CHANNELS as "other")',
      labelNames: ['channel', 'source'] as const,
      registers: r,
    }),
    pgNonJson: new Counter({
      name: 'notifier_pg_payload_not_json_total',
      help: 'Plain notifications whose payload was not JSON (delivered as a string)',
      registers: r,
    }),
    pgDropped: new Counter({
      name: 'notifier_pg_payload_dropped_total',
      help: 'Plain notifications that could not be made into a frame and were dropped (logged as listener:payload:dropped)',
      registers: r,
    }),
    listenPauses: new Counter({
      name: 'notifier_listener_read_pauses_total',
      help: 'Times the leader stopped reading its LISTEN socket because the bus fell behind (PostgreSQL queues meanwhile)',
      registers: r,
    }),
    plainDropped: new Counter({
      name: 'notifier_plain_notifications_dropped_total',
      help: 'Plain notifications dropped because the publish queue was full (bus unavailable)',
      registers: r,
    }),
    plainUnheard: new Counter({
      name: 'notifier_plain_unheard_seconds_total',
      help: 'Seconds during which no leader listened (from the previous leader\'s last heartbeat to this one\'s LISTEN): plain NOTIFYs sent then were lost',
      registers: r,
    }),
    notifyQueueUsage: new Gauge({
      name: 'notifier_pg_notify_queue_usage',
      help: 'pg_notification_queue_usage() on the leader (0–1)',
      registers: r,
    }),
    outboxBacklog: new Gauge({
      name: 'notifier_outbox_backlog',
      help: 'Rows waiting in notifier.outbox (PostgreSQL\'s n_live_tup estimate, sampled on each leader heartbeat)',
      registers: r,
    }),
    outboxOldestAge: new Gauge({
      name: 'notifier_outbox_oldest_age_seconds',
      help: 'Age of the oldest row in notifier.outbox (0 when empty): sampled by the leader before each drain (at most once a second), and on each poll while a batch waits on the bus; 0 on a standby',
      registers: r,
    }),
    busPublished: new Counter({
      name: 'notifier_bus_published_total',
      help: 'Notifications handed to the bus and accepted (ids the bus had already published are included)',
      registers: r,
    }),
    busBatchSize: new Histogram({
      name: 'notifier_bus_publish_batch_size',
      help: 'Notifications per bus round trip (one script call per batch)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
      registers: r,
    }),
    busPublishErrors: new Counter({
      name: 'notifier_bus_publish_errors_total',
      help: 'Failed publish batches (retried)',
      registers: r,
    }),
    redisReconnects: new Counter({
      name: 'notifier_redis_reconnects_total',
      help: 'Redis connections re-established',
      labelNames: ['connection'] as const,
      registers: r,
    }),
    // edge
    connections: new Gauge({ name: 'notifier_connections', help: 'Open client connections', labelNames: ['transport'] as const, registers: r }),
    connects: new Counter({ name: 'notifier_connects_total', help: 'Accepted client connections', labelNames: ['transport'] as const, registers: r }),
    disconnects: new Counter({
      name: 'notifier_disconnects_total',
      help: 'Closed client connections, by close code',
      labelNames: ['code'] as const,
      registers: r,
    }),
    rejectedConnections: new Counter({
      name: 'notifier_connections_rejected_total',
      help: 'Upgrades refused, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    subscriptions: new Gauge({
      name: 'notifier_subscriptions',
      help: 'Active subscriptions, by filter kind',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    authFailures: new Counter({
      name: 'notifier_auth_failures_total',
      help: 'Tokens refused at upgrade or refresh, by reason (missing, invalid, expired)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    tokenRefreshes: new Counter({
      name: 'notifier_token_refreshes_total',
      help: 'Token refresh requests, by outcome (ok, missing, invalid, expired, subject_changed)',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    forbiddenSubscribes: new Counter({
      name: 'notifier_forbidden_subscriptions_total',
      help: 'Subscribes and resume filters refused because the token does not allow them',
      registers: r,
    }),
    tokenExpiryCloses: new Counter({
      name: 'notifier_token_expired_closes_total',
      help: 'Connections closed (4004) because their token expired',
      registers: r,
    }),
    clientErrors: new Counter({
      name: 'notifier_client_errors_total',
      help: 'Error replies sent to clients, by code',
      labelNames: ['code'] as const,
      registers: r,
    }),
    busReceived: new Counter({
      name: 'notifier_bus_received_total',
      help: 'Notifications received from the bus by this edge',
      registers: r,
    }),
    delivered: new Counter({
      name: 'notifier_delivered_total',
      help: 'Notification frames handed to client sockets, by notification_type (types outside NOTIFIER_CHANNELS as "other"); one increment of N per notification, not one per recipient',
      labelNames: ['notification_type'] as const,
      registers: r,
    }),
    latency: new Histogram({
      name: 'notifier_delivery_latency_seconds',
      help:
        'End to end, by notification_type (outside NOTIFIER_CHANNELS: "other"): from the outbox row\'s insert (clock_timestamp() in the writing transaction), or for a plain NOTIFY from the payload\'s "timestamp" when it has a valid one, else the listener\'s receipt; to the edge handing the frame to uWebSockets.js',
      labelNames: ['notification_type'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    slowConsumerCloses: new Counter({
      name: 'notifier_slow_consumer_closes_total',
      help: 'Connections closed for exceeding the outbound backpressure limit',
      registers: r,
    }),
    resumes: new Counter({
      name: 'notifier_resumes_total',
      help: 'Resume requests, by outcome: recovered (missed notifications replayed) or reset (history gone)',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    replayed: new Counter({
      name: 'notifier_replayed_total',
      help: 'Notifications sent to resuming connections from the history',
      registers: r,
    }),
    replayReads: new Counter({
      name: 'notifier_replay_reads_total',
      help: "History pages read for resuming connections: from the edge's recent copy (memory) or from the bus (bus; concurrent identical reads counted once)",
      labelNames: ['source'] as const,
      registers: r,
    }),
    busHeartbeatAge: new Gauge({
      name: 'notifier_bus_heartbeat_age_seconds',
      help: 'Seconds since this edge last heard the leader heartbeat on the bus',
      registers: r,
    }),
    busGaps: new Counter({
      name: 'notifier_bus_gaps_total',
      help: 'Offset gaps this edge detected on the bus (each then backfilled from the history)',
      registers: r,
    }),
    backfilled: new Counter({
      name: 'notifier_backfilled_total',
      help: 'Notifications an edge read from the history to fill gaps in its subscription',
      registers: r,
    }),
    resyncs: new Counter({
      name: 'notifier_resyncs_total',
      help: 'Times an edge closed its connections because notifications were lost from the history',
      registers: r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

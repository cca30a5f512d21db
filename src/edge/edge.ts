/**
 * The edge role: a uWebSockets.js server that fans bus notifications out to WebSocket and
 * Server-Sent Events clients.
 * This file only wires the parts together; each has one job:
 *
 *   bus-feed.ts        the bus as an ordered, gap-free feed (heartbeat-watch.ts: is it alive?)
 *   delivery.ts        notification → matching topics → native publish (the hot path)
 *   history-reads.ts   history for replays: recent copy (recent-history.ts), else the bus
 *   admission.ts       may a new connection open? (origin, rate, draining, starting, capacity, per IP, per user)
 *   ws-transport.ts    GET /ws: uWS route and socket events; the Transport over uWS sockets
 *   sse-route.ts       GET /sse: checks, then a stream (sse-connections.ts: its Transport and fan-out)
 *   session.ts         one connection's requests and limits, transport-neutral (transport.ts)
 *   subscriptions.ts   filters ↔ routing topics (filter-index.ts) and their counts
 *   resume.ts          resume: replay (replay.ts) then live, or reset
 *   lifecycle.ts       slow-consumer sweep, resync, graceful drain (drain-schedule.ts), both transports
 *   http-routes.ts     /health, /ready, /stats, /metrics, the live routes, 404
 *
 * May import the bus contract, config and observability types, and the edge's modules.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '../bus/bus.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { Admission } from './admission.js';
import { BusFeed } from './bus-feed.js';
import { Delivery } from './delivery.js';
import type { Authenticator } from './auth/authenticator.js';
import { clientAddress } from './client-address.js';
import { HistoryReads } from './history-reads.js';
import { addHttpRoutes } from './http-routes.js';
import { Lifecycle } from './lifecycle.js';
import { NotificationScopes } from './notification-scopes.js';
import { Resumes } from './resume.js';
import { ScopedIndexes } from './scoped-indexes.js';
import type { SendFn } from './send-endpoint.js';
import { Sessions } from './session.js';
import { SseConnections, type SseConn } from './sse-connections.js';
import { addSseRoute } from './sse-route.js';
import { Subscriptions } from './subscriptions.js';
import { listenExclusive, loadUws, type Uws } from './uws.js';
import { WsConnections, addWebSocketRoute, type WsConn } from './ws-transport.js';

/** Between two heartbeat comments on every SSE stream: well under proxies' idle timeouts (HAProxy's is 60 s here). */
const SSE_HEARTBEAT_MS = 15_000;

export interface EdgeOptions {
  config: Config;
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
  /** Extra fields for /stats and /ready (standalone mode adds the listener's role). */
  stats?: () => Record<string, unknown>;
  /** The live page at GET / (and GET /api/info). Off unless set: roles.ts decides per role. */
  livePage?: boolean;
  /** Serves POST /api/notify with this sender (the live page's test form). Absent: no endpoint. */
  send?: SendFn;
  /** NOTIFIER_AUTH=jwt (auth/edge-authenticator.ts): tokens verified at upgrade and refresh. Absent: anonymous clients. */
  authenticator?: Authenticator | undefined;
  /** POST /api/notify answers only clients on this machine (loopback). */
  sendLoopbackOnly?: boolean;
  /**
   * The process's readiness, which GET /ready and /stats `ready` report: roles.ts combines its
   * parts' (`start`: this edge's and the listener's). Absent: this edge's own (isReady).
   */
  ready?: () => boolean;
  /** Tests only: the SSE heartbeat interval (SSE_HEARTBEAT_MS). */
  sseHeartbeatMs?: number;
}

export class Edge {
  readonly nodeId = randomUUID().slice(0, 8);
  private readonly uws: typeof Uws;
  private readonly app: Uws.TemplatedApp;
  private readonly indexes = new ScopedIndexes();
  private readonly subscriptions: Subscriptions;
  private readonly connections = new WsConnections();
  private readonly sse: SseConnections;
  private readonly feed: BusFeed;
  private readonly lifecycle: Lifecycle;
  private readonly resumes: Resumes;
  private listenSocket: Uws.us_listen_socket | undefined;
  private boundPort = 0;
  /** NOTIFIER_METRICS_PORT: /metrics and /stats on their own listen socket. */
  private readonly metricsApp: Uws.TemplatedApp | undefined;
  private metricsSocket: Uws.us_listen_socket | undefined;
  private boundMetricsPort = 0;

  constructor(private readonly opts: EdgeOptions) {
    const { config, bus, logger, metrics } = opts;
    const { uws, native } = loadUws(config.allowUwsFallback);
    this.uws = uws;
    if (!native) {
      logger.warn({ event: 'edge:uws:fallback' }, 'running on the slow uWebSockets.js fallback (NOTIFIER_ALLOW_UWS_FALLBACK=1)');
    }
    this.app = uws.App();
    this.metricsApp = config.metricsPort === undefined ? undefined : uws.App();
    const history = new HistoryReads(bus, metrics, config.replayCacheBytes);
    const scopes = new NotificationScopes(config.scopeFields);
    this.sse = new SseConnections({
      epoch: () => this.feed.epoch,
      maxBackpressureBytes: config.maxBackpressureBytes,
      heartbeatMs: opts.sseHeartbeatMs ?? SSE_HEARTBEAT_MS,
    });
    const delivery = new Delivery({ publisher: this.app, fanout: this.sse, indexes: this.indexes, scopes, history, metrics, channels: config.channels });
    this.feed = new BusFeed({ bus, config, logger, metrics, deliver: (n) => delivery.deliver(n), resync: () => this.lifecycle.resync() });
    this.subscriptions = new Subscriptions(this.indexes, metrics, config.maxSubscriptions);
    const resumes = (this.resumes = new Resumes({
      feed: this.feed,
      scopes,
      history,
      subscriptions: this.subscriptions,
      metrics,
      logger,
      maxBuffered: Math.floor(config.maxBackpressureBytes / 2),
      maxConcurrent: config.maxConcurrentReplays,
    }));
    const { authenticator } = opts;
    const sessions = new Sessions({
      config,
      metrics,
      subscriptions: this.subscriptions,
      resumes,
      feed: this.feed,
      nodeId: this.nodeId,
      authenticator,
      onRefresh: (outcome) => {
        metrics.tokenRefreshes.inc({ outcome });
        if (outcome !== 'ok' && outcome !== 'subject_changed') metrics.authFailures.inc({ reason: outcome });
      },
    });
    this.lifecycle = new Lifecycle({
      groups: [
        { connections: this.connections, describe: (ws: WsConn) => sessions.clientId(ws.getUserData()) },
        { connections: this.sse, describe: (c: SseConn) => sessions.clientId(c.state) },
      ],
      config,
      metrics,
      logger,
      expiryGraceMs: config.jwtClockToleranceSeconds * 1000,
    });
    const admission = new Admission(config, metrics, {
      draining: () => this.lifecycle.draining,
      positionKnown: () => this.feed.lastOffset !== '',
      connections: () => this.connections.size + this.sse.size,
    });
    const address = clientAddress({ trustedProxies: config.trustedProxies, tracked: Admission.tracksAddresses(config) });
    const onAuthFailure = (reason: string, detail: string) => {
      metrics.authFailures.inc({ reason });
      logger.debug({ event: 'edge:auth:refused', reason, detail }, 'connection refused: token not accepted');
    };
    addWebSocketRoute(this.app, {
      uws,
      config,
      metrics,
      admission,
      sessions,
      connections: this.connections,
      clientAddress: address,
      authenticator,
      onAuthFailure,
    });
    addSseRoute(this.app, { metrics, admission, sessions, connections: this.sse, clientAddress: address, authenticator, onAuthFailure });
    addHttpRoutes(this.app, {
      config,
      logger,
      metrics,
      ready: () => this.processReady(),
      readyDetails: () => ({
        bus_subscribed: this.feed.isSubscribed,
        backfilling: this.feed.isBackfilling,
        leader_heartbeat: this.feed.health,
        leader_heartbeat_age_ms: this.feed.heartbeatAgeMs(),
        draining: this.lifecycle.draining,
        ...opts.stats?.(),
      }),
      stats: () => this.stats(),
      heartbeatAgeMs: () => this.feed.heartbeatAgeMs(),
      livePage: opts.livePage ?? false,
      send: opts.send,
      sendLoopbackOnly: opts.sendLoopbackOnly ?? false,
      otherPaths: ['/ws', '/sse'],
      metricsApp: this.metricsApp,
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** The port /metrics and /stats are served on (the main port without NOTIFIER_METRICS_PORT). */
  get metricsPort(): number {
    return this.metricsApp === undefined ? this.boundPort : this.boundMetricsPort;
  }

  /**
   * Ready: subscribed to the bus, the subscription working and caught up, not draining. A
   * missing leader does not make an edge unready — that would pull every edge out of the load
   * balancer at once while nothing is wrong with them.
   */
  isReady(): boolean {
    return !this.lifecycle.draining && this.feed.isHealthy();
  }

  async start(): Promise<void> {
    const { config, logger } = this.opts;
    const listening = await listenExclusive(this.uws, this.app, config.host, config.port);
    this.listenSocket = listening.socket;
    this.boundPort = listening.port;
    logger.info({ event: 'edge:listen:success', host: config.host, port: this.boundPort }, `edge listening on ${config.host}:${this.boundPort}`);
    if (this.metricsApp !== undefined && config.metricsPort !== undefined) {
      const metrics = await listenExclusive(this.uws, this.metricsApp, config.host, config.metricsPort).catch((err: Error) => {
        this.closeListenSockets();
        throw new Error(`NOTIFIER_METRICS_PORT: ${err.message}`);
      });
      this.metricsSocket = metrics.socket;
      this.boundMetricsPort = metrics.port;
      logger.info({ event: 'edge:metrics:listen', host: config.host, port: this.boundMetricsPort }, `/metrics and /stats on ${config.host}:${this.boundMetricsPort} only`);
    }
    if (config.metricsToken === undefined && config.metricsPort === undefined) {
      logger.info({ event: 'edge:metrics:open' }, '/metrics and /stats answer anyone who reaches the main port (set NOTIFIER_METRICS_PORT or NOTIFIER_METRICS_TOKEN)');
    }
    if (this.opts.authenticator === undefined) {
      logger.warn(
        { event: 'edge:auth:off', auth: 'none' },
        'authentication is off (NOTIFIER_AUTH=none): any client that reaches this port may subscribe to any filter, `all` included',
      );
    }
    if (this.opts.livePage) {
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
      const url = `http://${host}:${this.boundPort}/`;
      logger.info({ event: 'edge:live-page', url }, `live page: ${url}`);
    }
    if (this.opts.send) {
      const who = this.opts.sendLoopbackOnly ? 'clients on this machine' : 'every client that reaches this port';
      logger.info({ event: 'edge:send-endpoint', loopbackOnly: this.opts.sendLoopbackOnly ?? false }, `POST /api/notify is on for ${who} (NOTIFIER_SEND_ENDPOINT)`);
    }
    this.lifecycle.startSweeping();
    // Not awaited: with Redis down the edge still serves /health (and /ready says 503) while
    // the bus keeps retrying, and a SIGTERM meanwhile stops it cleanly.
    this.feed.start();
  }

  /**
   * Graceful shutdown: readiness turns false at once, the listen socket closes, and open
   * connections are closed with 1012 in batches spread over NOTIFIER_DRAIN_SECONDS, so clients
   * reconnect elsewhere without a thundering herd.
   */
  async stop(): Promise<void> {
    this.feed.stop();
    this.closeListenSockets();
    // Nothing ran in between: readiness turns false in the same turn as the listen socket closes.
    await this.lifecycle.drain();
    this.sse.stop();
  }

  stats(): Record<string, unknown> {
    return {
      connected_clients: this.connections.size + this.sse.size,
      connections: { ws: this.connections.size, sse: this.sse.size },
      total_subscriptions: this.subscriptions.count,
      filter_sets: this.indexes.size,
      replays_running: this.resumes.replays.running,
      replays_waiting: this.resumes.replays.waiting,
      scopes: this.indexes.scopes,
      node: this.nodeId,
      auth: this.opts.authenticator === undefined ? 'none' : 'jwt',
      ready: this.processReady(),
      bus_subscribed: this.feed.isSubscribed,
      backfilling: this.feed.isBackfilling,
      leader_heartbeat: this.feed.health,
      leader: this.feed.lastHeartbeat?.leader ?? null,
      leader_heartbeat_age_ms: this.feed.heartbeatAgeMs(),
      epoch: this.feed.epoch ?? null,
      last_offset: this.feed.lastOffset || null,
      uptime_seconds: Math.round(process.uptime()),
      ...this.opts.stats?.(),
    };
  }

  private closeListenSockets(): void {
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    if (this.metricsSocket) this.uws.us_listen_socket_close(this.metricsSocket);
    this.listenSocket = undefined;
    this.metricsSocket = undefined;
  }

  private processReady(): boolean {
    return this.opts.ready?.() ?? this.isReady();
  }
}

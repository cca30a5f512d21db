/**
 * The edge role: a uWebSockets.js server that fans bus notifications out to WebSocket clients.
 *
 * Routing: each connection subscribes to one uWS topic per filter, shared with every connection
 * whose filter set starts the same way (see FilterIndex); a notification is published once per
 * matching topic, as the frame the listener serialized — no JSON work and no JavaScript loop per
 * recipient.
 */
import { randomUUID } from 'node:crypto';
import type { Bus, BusNotification, HistoryPage } from '../bus/bus.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import { filterKind } from '../protocol/filters.js';
import { ZERO_OFFSET } from '../protocol/offsets.js';
import {
  ErrorCode,
  PONG,
  errorMessage,
  parseClientFrame,
  resetMessage,
  resumedMessage,
  subscribedMessage,
  unsubscribedMessage,
  welcomeMessage,
} from '../protocol/messages.js';
import { sleep } from '../util/backoff.js';
import { drainSchedule } from './drain-schedule.js';
import { BusFeed } from './bus-feed.js';
import { LabelFolder } from '../observability/label-folder.js';
import { FilterIndex } from './filter-index.js';
import { RecentHistory } from './recent-history.js';
import { replay } from './replay.js';
import { replyAsync, replyJson } from './http-reply.js';
import { addLiveRoutes } from './live-routes.js';
import type { SendFn } from './send-endpoint.js';
import { loadUws, type Uws } from './uws.js';

export interface EdgeOptions {
  config: Config;
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
  /** Extra fields for /stats (standalone mode adds the listener's role). */
  stats?: () => Record<string, unknown>;
  /** The live page at GET / (and GET /api/info). Off unless set: roles.ts decides per role. */
  livePage?: boolean;
  /** Serves POST /api/notify with this sender (the live page's test form). Absent: no endpoint. */
  send?: SendFn;
  /** POST /api/notify answers only clients on this machine (loopback). */
  sendLoopbackOnly?: boolean;
  /**
   * The process's readiness, which GET /ready and /stats `ready` report: roles.ts combines its
   * parts' (`start`: this edge's and the listener's). Absent: this edge's own (isReady).
   */
  ready?: () => boolean;
}

/**
 * Per-connection state, kept small: uWS copies these fields onto each socket's object (six or
 * fewer fit its smallest-but-one property store, 64 B; eight took 88 B). Every field holds a small
 * integer, a boolean or a shared array: no per-connection heap number, closure or topic list.
 * The topics a connection holds follow from its filters (topicsHeld).
 */
interface Conn {
  seq: number;
  /**
   * Broad ones interned (FilterIndex.intern). Replaced, never grown in place (concat, toSpliced,
   * map: exactly sized): an array grown by push, spread or filter keeps 17 slots (152 B) for one
   * filter. A replay reads the current one (filters may change while it runs).
   */
  filters: readonly string[];
  /** The rate window: whole seconds since the edge started (a small integer). */
  windowSecond: number;
  windowCount: number;
  /** True from a resume until its replay or reset puts it live: it joins its topics then. */
  replaying: boolean;
  /** A subscribe, unsubscribe or resume was accepted: resume is only valid before any. */
  started: boolean;
}

/** Notifications read from the history per bus round trip during a replay. */
const REPLAY_CHUNK = 200;

/**
 * uWS's own limit, as a multiple of maxBackpressureBytes. Our sweep closes slow consumers at
 * maxBackpressureBytes with code 4001; uWS closes (as 1006) only a burst that outruns the
 * sweep, at this hard cap, so memory stays bounded either way.
 */
const HARD_BACKPRESSURE_FACTOR = 4;
const NO_TOPICS: readonly string[] = [];
const NO_FILTERS: readonly string[] = [];

export class Edge {
  readonly nodeId = randomUUID().slice(0, 8);
  private readonly uws: typeof Uws;
  private readonly app: Uws.TemplatedApp;
  private readonly index = new FilterIndex();
  private readonly recent: RecentHistory;
  /** Per notification_type (folded into `other` outside the configured channels) metric children. */
  private readonly byType: LabelFolder<{ delivered: { inc(n: number): void }; latency: { observe(v: number): void } }>;
  /** History reads in flight, by position: resumes from the same offset share one read. */
  private readonly reads = new Map<string, Promise<HistoryPage>>();
  private readonly conns = new Set<Uws.WebSocket<Conn>>();
  /** Wakes the replay of a connection waiting for its send buffer to drain (only those). */
  private readonly drainWaiters = new Map<Conn, () => void>();
  private readonly startedAt = Date.now();
  private listenSocket: Uws.us_listen_socket | undefined;
  private boundPort = 0;
  private subscriptionCount = 0;
  private clientSeq = 0;
  private draining = false;
  private readonly feed: BusFeed;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: EdgeOptions) {
    const { uws, native } = loadUws(opts.config.allowUwsFallback);
    this.uws = uws;
    if (!native) {
      opts.logger.warn({ event: 'edge:uws:fallback' }, 'running on the slow uWebSockets.js fallback (NOTIFIER_ALLOW_UWS_FALLBACK=1)');
    }
    this.app = uws.App();
    this.recent = new RecentHistory(opts.config.replayCacheBytes);
    this.byType = new LabelFolder(opts.config.channels, (t) => ({
      delivered: opts.metrics.delivered.labels({ notification_type: t }),
      latency: opts.metrics.latency.labels({ notification_type: t }),
    }));
    this.feed = new BusFeed({
      bus: opts.bus,
      config: opts.config,
      logger: opts.logger,
      metrics: opts.metrics,
      deliver: (n) => {
        this.recent.push(n);
        this.route(n);
      },
      resync: () => this.resync(),
    });
    this.routes();
  }

  get port(): number {
    return this.boundPort;
  }

  /**
   * Ready: subscribed to the bus, the subscription working and caught up, not draining. A
   * missing leader does not make an edge unready — that would pull every edge out of the load
   * balancer at once while nothing is wrong with them.
   */
  isReady(): boolean {
    return !this.draining && this.feed.isHealthy();
  }

  private processReady(): boolean {
    return this.opts.ready?.() ?? this.isReady();
  }

  async start(): Promise<void> {
    const { config, logger } = this.opts;
    await new Promise<void>((resolve, reject) => {
      // Exclusive: by default uWS binds with SO_REUSEPORT, so a second process on the same port
      // would silently share it instead of failing. (The native code takes host, port, options;
      // 20.30's index.d.ts only types options without a host.)
      const listen = this.app.listen as unknown as (
        host: string,
        port: number,
        options: number,
        cb: (token: Uws.us_listen_socket | false) => void,
      ) => Uws.TemplatedApp;
      const exclusive = (this.uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;
      listen.call(this.app, config.host, config.port, exclusive, (token) => {
        if (!token) {
          reject(new Error(`cannot listen on ${config.host}:${config.port} (port in use or not permitted); set PORT to a free port`));
          return;
        }
        this.listenSocket = token;
        this.boundPort = this.uws.us_socket_local_port(token);
        resolve();
      });
    });
    logger.info({ event: 'edge:listen:success', host: config.host, port: this.boundPort }, `edge listening on ${config.host}:${this.boundPort}`);
    if (this.opts.livePage) {
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
      const url = `http://${host}:${this.boundPort}/`;
      logger.info({ event: 'edge:live-page', url }, `live page: ${url}`);
    }
    if (this.opts.send) {
      const who = this.opts.sendLoopbackOnly ? 'clients on this machine' : 'every client that reaches this port';
      logger.info({ event: 'edge:send-endpoint', loopbackOnly: this.opts.sendLoopbackOnly ?? false }, `POST /api/notify is on for ${who} (NOTIFIER_SEND_ENDPOINT)`);
    }
    this.sweepTimer = setInterval(() => this.sweepSlowConsumers(), config.slowConsumerCheckMs);
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
    this.draining = true;
    clearInterval(this.sweepTimer);
    this.feed.stop();
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    const all = [...this.conns];
    const schedule = drainSchedule(all.length, this.opts.config.drainSeconds * 1000);
    const started = Date.now();
    for (let closed = 0; closed < all.length; ) {
      const elapsed = Date.now() - started;
      for (const due = schedule.dueBy(elapsed); closed < due; closed++) this.closeConn(all[closed]!, CloseCode.ServiceRestart, 'server restarting');
      const next = schedule.nextAt(elapsed);
      if (next !== undefined) await sleep(Math.max(0, started + next - Date.now()));
    }
  }

  stats(): Record<string, unknown> {
    return {
      connected_clients: this.conns.size,
      total_subscriptions: this.subscriptionCount,
      filter_sets: this.index.size,
      node: this.nodeId,
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

  /** Hot path: one notification (in order, exactly once, see BusFeed) to every matching connection. */
  private route(n: BusNotification): void {
    const topics = this.index.topicsFor(n.keys);
    if (topics.length === 0) return;
    const frame = typeof n.frame === 'string' ? Buffer.from(n.frame) : n.frame;
    let recipients = 0;
    for (const topic of topics) {
      recipients += this.app.numSubscribers(topic);
      this.app.publish(topic, frame, false, false);
    }
    if (recipients > 0) {
      const byType = this.byType.for(n.notificationType);
      byType.delivered.inc(recipients);
      byType.latency.observe(Math.max(0, Date.now() - n.sourceTime) / 1000);
    }
  }

  private routes(): void {
    const { config, metrics } = this.opts;
    this.app.ws<Conn>('/ws', {
      compression: this.uws.DISABLED,
      maxPayloadLength: config.maxFrameBytes,
      // Native publish silently skips a socket over this limit, and frames may slip past it
      // (uWebSockets #1338): so our sweep closes slow sockets well before, and uWS closes
      // whatever outruns the sweep.
      maxBackpressure: config.maxBackpressureBytes * HARD_BACKPRESSURE_FACTOR,
      // Typed as number in 20.30's index.d.ts; the native code reads it as an integer flag.
      closeOnBackpressureLimit: 1,
      idleTimeout: config.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        if (this.draining) {
          metrics.rejectedConnections.inc({ reason: 'draining' });
          return replyJson(res, '503 Service Unavailable', { error: 'edge is shutting down; reconnect to another edge' });
        }
        if (this.feed.lastOffset === '') {
          // Until the edge knows its position in the stream it cannot replay exactly for resume.
          metrics.rejectedConnections.inc({ reason: 'starting' });
          return replyJson(res, '503 Service Unavailable', { error: 'edge is starting (not yet subscribed to the bus); retry shortly' });
        }
        if (this.conns.size >= config.maxConnections) {
          metrics.rejectedConnections.inc({ reason: 'max_connections' });
          return replyJson(res, '503 Service Unavailable', { error: 'edge is at its connection limit; retry later' });
        }
        const conn: Conn = {
          seq: ++this.clientSeq,
          filters: NO_FILTERS,
          windowSecond: 0,
          windowCount: 0,
          replaying: false,
          started: false,
        };
        res.upgrade(
          conn,
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        this.conns.add(ws);
        metrics.connects.inc({ transport: 'ws' });
        metrics.connections.inc({ transport: 'ws' });
        ws.send(welcomeMessage(this.clientId(ws.getUserData()), { epoch: this.feed.epoch, offset: this.feed.lastOffset || undefined }), false);
      },
      message: (ws, data, isBinary) => this.onMessage(ws, data, isBinary),
      drain: (ws) => this.wakeReplay(ws.getUserData()),
      close: (ws, code) => {
        const conn = ws.getUserData();
        this.conns.delete(ws);
        this.wakeReplay(conn);
        this.index.release(this.topicsHeld(conn));
        for (const f of conn.filters) metrics.subscriptions.dec({ kind: filterKind(f) });
        this.subscriptionCount -= conn.filters.length;
        metrics.connections.dec({ transport: 'ws' });
        metrics.disconnects.inc({ code: String(code) });
      },
    });
    this.app.get('/health', (res) => replyJson(res, '200 OK', { status: 'ok' }));
    this.app.get('/ready', (res) => {
      const ready = this.processReady();
      replyJson(res, ready ? '200 OK' : '503 Service Unavailable', {
        status: ready ? 'ready' : 'not ready',
        bus_subscribed: this.feed.isSubscribed,
        backfilling: this.feed.isBackfilling,
        leader_heartbeat: this.feed.health,
        leader_heartbeat_age_ms: this.feed.heartbeatAgeMs(),
        draining: this.draining,
      });
    });
    this.app.get('/stats', (res) => replyJson(res, '200 OK', this.stats()));
    this.app.get('/metrics', (res) =>
      replyAsync(res, async () => {
        metrics.busHeartbeatAge.set((this.feed.heartbeatAgeMs() ?? -1000) / 1000);
        return { status: '200 OK', type: metrics.registry.contentType, body: await metrics.registry.metrics() };
      }),
    );
    const live = addLiveRoutes(this.app, {
      config,
      logger: this.opts.logger,
      livePage: this.opts.livePage ?? false,
      send: this.opts.send,
      sendLoopbackOnly: this.opts.sendLoopbackOnly ?? false,
    });
    const endpoints = ['/ws', '/health', '/ready', '/stats', '/metrics', ...live];
    this.app.any('/*', (res) => replyJson(res, '404 Not Found', { error: 'not found', endpoints }));
  }

  private onMessage(ws: Uws.WebSocket<Conn>, data: ArrayBuffer, isBinary: boolean): void {
    const { config, metrics } = this.opts;
    const conn = ws.getUserData();
    const second = Math.floor((Date.now() - this.startedAt) / 1000);
    if (second !== conn.windowSecond) {
      conn.windowSecond = second;
      conn.windowCount = 0;
    }
    if (++conn.windowCount > config.maxInboundPerSecond) {
      metrics.clientErrors.inc({ code: 'rate_limited' });
      this.closeConn(ws, CloseCode.RateLimited, 'too many messages per second');
      return;
    }
    const reply = (code: ErrorCode, message: string) => {
      metrics.clientErrors.inc({ code });
      ws.send(errorMessage(code, message), false);
    };
    if (isBinary) return reply(ErrorCode.BinaryNotSupported, 'send JSON text frames, not binary frames');
    const parsed = parseClientFrame(data);
    if (!parsed.ok) return reply(parsed.code, parsed.message);
    const msg = parsed.message;
    switch (msg.type) {
      case 'ping':
        ws.send(PONG, false);
        return;
      case 'subscribe':
        conn.started = true;
        if (!conn.filters.includes(msg.filter)) {
          if (conn.filters.length >= config.maxSubscriptions) {
            return reply(ErrorCode.TooManySubscriptions, `at most ${config.maxSubscriptions} subscriptions per connection`);
          }
          const held = this.topicsHeld(conn);
          conn.filters = conn.filters.concat(this.index.intern(msg.filter));
          this.subscriptionCount += 1;
          metrics.subscriptions.inc({ kind: filterKind(msg.filter) });
          this.moveTopics(ws, conn, held);
        }
        ws.send(subscribedMessage(msg.filter), false);
        return;
      case 'unsubscribe': {
        conn.started = true;
        const at = conn.filters.indexOf(msg.filter);
        if (at >= 0) {
          const held = this.topicsHeld(conn);
          conn.filters = conn.filters.toSpliced(at, 1);
          this.subscriptionCount -= 1;
          metrics.subscriptions.dec({ kind: filterKind(msg.filter) });
          this.moveTopics(ws, conn, held);
        }
        ws.send(unsubscribedMessage(msg.filter), false);
        return;
      }
      case 'resume':
        if (conn.started) {
          return reply(ErrorCode.InvalidResume, 'resume must be the first request on a connection, before any subscribe, and only once');
        }
        if (msg.filters.length > config.maxSubscriptions) {
          return reply(ErrorCode.TooManySubscriptions, `at most ${config.maxSubscriptions} subscriptions per connection`);
        }
        conn.started = true;
        // Not live until the replay (or reset) puts it live: it holds no topics meanwhile.
        conn.replaying = true;
        conn.filters = msg.filters.map((f) => this.index.intern(f));
        for (const f of msg.filters) metrics.subscriptions.inc({ kind: filterKind(f) });
        this.subscriptionCount += conn.filters.length;
        this.resume(ws, conn, msg.epoch, msg.offset);
        return;
    }
  }

  /**
   * Replays what the connection missed since `offset`, then puts it live; or, when that history
   * is gone (another epoch, or trimmed), sends `reset` and puts it live from now.
   */
  private resume(ws: Uws.WebSocket<Conn>, conn: Conn, epoch: string, offset: string): void {
    const { config, metrics, logger } = this.opts;
    if (this.feed.epoch === undefined || epoch !== this.feed.epoch) {
      this.reset(ws, conn, 'epoch');
      return;
    }
    conn.replaying = true;
    replay(
      { readAfter: (after, count) => this.readHistory(after, count), liveOffset: () => this.feed.lastOffset },
      {
        isOpen: () => this.conns.has(ws),
        get filters() {
          return conn.filters;
        },
        send: (frame) => ws.send(frame, false),
        bufferedAmount: () => ws.getBufferedAmount(),
        drained: () => new Promise<void>((resolve) => this.drainWaiters.set(conn, resolve)),
        goLive: (at, replayed) => {
          const held = this.topicsHeld(conn);
          conn.replaying = false;
          ws.send(resumedMessage(this.feed.epoch ?? epoch, at, replayed), false);
          this.moveTopics(ws, conn, held);
          metrics.resumes.inc({ outcome: 'recovered' });
          metrics.replayed.inc(replayed);
        },
      },
      offset,
      { chunk: REPLAY_CHUNK, maxBuffered: Math.floor(config.maxBackpressureBytes / 2) },
    ).then(
      (result) => {
        if (result.status === 'expired' && this.conns.has(ws)) this.reset(ws, conn, 'expired');
      },
      (err: Error) => {
        logger.warn({ event: 'edge:resume:error', err: err.message }, 'replay failed; resetting the client');
        if (this.conns.has(ws)) this.reset(ws, conn, 'expired');
      },
    );
  }

  /**
   * History for replays: from this edge's recent copy when it reaches back that far, else from
   * the bus, one read per position however many clients resume from it, retried twice.
   */
  private readHistory(after: string, count: number): Promise<HistoryPage> {
    const local = this.recent.readAfter(after, count);
    if (local !== undefined) {
      this.opts.metrics.replayReads.inc({ source: 'memory' });
      return Promise.resolve(local);
    }
    const key = `${after}/${count}`;
    let read = this.reads.get(key);
    if (read === undefined) {
      this.opts.metrics.replayReads.inc({ source: 'bus' });
      read = retry(() => this.opts.bus.readAfter(after, count), [250, 1000]).finally(() => this.reads.delete(key));
      this.reads.set(key, read);
    }
    return read;
  }

  /** Tells the client its history is gone and puts it live from the edge's current offset. */
  private reset(ws: Uws.WebSocket<Conn>, conn: Conn, reason: 'epoch' | 'expired'): void {
    const held = this.topicsHeld(conn);
    conn.replaying = false;
    ws.send(resetMessage(reason, this.feed.epoch ?? '', this.feed.lastOffset || ZERO_OFFSET), false);
    this.moveTopics(ws, conn, held);
    this.opts.metrics.resumes.inc({ outcome: 'reset' });
  }

  private wakeReplay(conn: Conn): void {
    const wake = this.drainWaiters.get(conn);
    if (wake === undefined) return;
    this.drainWaiters.delete(conn);
    wake();
  }

  /**
   * The topics a connection holds (in the index and in uWS): its filter set's, except while a
   * replay runs (it joins them at the end). Derived rather than stored: a stored list cost each
   * connection an array and, with several filters, its own copies of the topic strings.
   */
  private topicsHeld(conn: Conn): readonly string[] {
    return conn.replaying || conn.filters.length === 0 ? NO_TOPICS : FilterIndex.topicsOf(conn.filters);
  }

  /**
   * Re-homes a connection from the topics it held (`before`, topicsHeld before its change) to
   * those of its current filter set; a replay does it when done.
   */
  private moveTopics(ws: Uws.WebSocket<Conn>, conn: Conn, before: readonly string[]): void {
    if (conn.replaying) return;
    const after = conn.filters.length > 0 ? this.index.acquire(conn.filters) : NO_TOPICS;
    for (const t of before) if (!after.includes(t)) ws.unsubscribe(t);
    for (const t of after) if (!before.includes(t)) ws.subscribe(t);
    this.index.release(before);
  }

  private closeConn(ws: Uws.WebSocket<Conn>, code: number, reason: string): void {
    // Any call on a closed uWS socket throws; `conns` holds exactly the open ones.
    if (!this.conns.has(ws)) return;
    ws.end(code, reason);
  }

  /** The client_id sent in welcome: this edge's node id and the connection's sequence number. */
  private clientId(conn: Conn): string {
    return `${this.nodeId}-${conn.seq.toString(36)}`;
  }

  /**
   * Notifications this edge missed are gone from the history: close every connection so its
   * client resumes (on any edge) and learns it from `reset`, rather than silently missing them.
   */
  private resync(): void {
    for (const ws of [...this.conns]) ws.end(CloseCode.Resync, 'notifications were lost on this edge: reconnect and resume');
  }

  /**
   * Closes connections whose outbound buffer is over the limit, with 4001 (they reconnect). The
   * close frame queues behind the unread data; uWS times the socket out if it is never read.
   */
  private sweepSlowConsumers(): void {
    const { config, metrics, logger } = this.opts;
    for (const ws of [...this.conns]) {
      const buffered = ws.getBufferedAmount();
      if (buffered > config.maxBackpressureBytes) {
        metrics.slowConsumerCloses.inc();
        logger.debug({ event: 'edge:connection:slow', client: this.clientId(ws.getUserData()), buffered }, 'closing a slow consumer');
        ws.end(CloseCode.SlowConsumer, 'slow consumer: outbound buffer limit reached');
      }
    }
  }
}

/** `fn`, tried again after each delay while it rejects; the last attempt's rejection stands. */
async function retry<T>(fn: () => Promise<T>, delaysMs: readonly number[]): Promise<T> {
  for (const delay of delaysMs) {
    try {
      return await fn();
    } catch {
      await sleep(delay);
    }
  }
  return fn();
}

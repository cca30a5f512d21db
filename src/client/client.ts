/**
 * NotifierClient: one WebSocket to any edge, kept open. Full-jitter reconnect, `token()` called for
 * every connect (sent as `Sec-WebSocket-Protocol: notifier.v1, bearer.<token>`), in-band `refresh`
 * before `expires_at`, close codes obeyed through `closeAction`, half-open detection with `ping`,
 * and `resume` with the last epoch and offset after every reconnect: a handler never sees a
 * notification twice, nor out of order (offsets at or before the last one delivered are dropped).
 * Imports: client/ and protocol/ only (the SDK ships to browsers; no runtime dependencies).
 */
import { compactCloseAction as closeAction } from '../protocol/close-action.js';
import { compareOffsets, isOffset } from '../protocol/offsets.js';
import { Emitter } from './emitter.js';
import { closeQuietly, openSocket, protocolsFor, refreshDelay } from './socket.js';
import { HandlerSets, subscriptionOf, wire, type Handler } from './handler-sets.js';
import type { ClientEvents, SubscribeOptions, ClientState, CloseInfo, Notification, NotifierClientOptions, ResetEvent, ResumedEvent, SocketLike, Subscription, Welcome } from './types.js';

type Msg = Record<string, unknown>;

export class NotifierClient {
  private readonly opts: NotifierClientOptions;
  private readonly subs = new HandlerSets();
  private readonly events = new Emitter<ClientEvents>();
  private ws: SocketLike | undefined;
  private isOpen = false;
  private resuming = false;
  private stopped = false;
  private attempt = 0;
  private current: ClientState | undefined;
  private epoch: string | undefined;
  private offset: string | undefined;
  private lastHeard = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private staleTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: NotifierClientOptions) {
    this.opts = options;
    queueMicrotask(() => void this.connect()); // after the caller's `on(...)` calls: they see the first 'connecting'
  }

  /** The state now. */
  get state(): ClientState {
    return this.current ?? 'connecting';
  }

  /** Listens to an event; returns the function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): () => void {
    return this.events.on(event, fn);
  }

  /**
   * Handlers of one filter (and `where`) share one server subscription; it lasts across reconnects
   * until the last unsubscribes. `where` narrows it on the server (payload predicates, README).
   * Throws a TypeError on an invalid filter or where.
   */
  subscribe(filter: string, handler: Handler): Subscription;
  subscribe(filter: string, options: SubscribeOptions, handler: Handler): Subscription;
  subscribe(filter: string, a: Handler | SubscribeOptions, b?: Handler): Subscription {
    const [options, handler] = typeof a === 'function' ? [{}, a] : [a, b as Handler];
    const sub = subscriptionOf(filter, options.where);
    const { first, remove } = this.subs.add(sub, handler);
    if (first && this.isOpen) this.send({ type: 'subscribe', ...wire(sub) });
    return {
      filter,
      unsubscribe: () => {
        if (remove() && this.isOpen) this.send({ type: 'unsubscribe', ...wire(sub) });
      },
    };
  }

  /** Replaces the connection now, without waiting out a back-off, and resumes; after close(), starts again. */
  reconnect(): void {
    this.stopped = false;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    this.drop(4000, 'reconnect');
    void this.connect();
  }

  /** Stops for good: no reconnect, no timers; state 'disconnected'. */
  close(): void {
    this.stopped = true;
    this.drop(1000, 'client closed');
    clearTimeout(this.retryTimer);
    this.setState('disconnected');
  }

  private setState(state: ClientState, info?: CloseInfo): void {
    if (this.current === state) return;
    this.current = state;
    this.events.emit('state', state, info);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    let protocols: string[];
    try {
      protocols = await protocolsFor(this.opts.token);
    } catch (error) {
      if (this.stopped) return;
      this.events.emit('error', { kind: 'token', error });
      return this.retry();
    }
    if (this.stopped) return;
    let ws: SocketLike;
    try {
      ws = openSocket(this.opts, protocols);
    } catch (error) {
      this.events.emit('error', { kind: 'socket', error });
      return this.retry();
    }
    this.ws = ws;
    this.lastHeard = Date.now();
    this.watch();
    ws.onopen = () => this.opened();
    ws.onmessage = (e) => this.message(typeof e.data === 'string' ? e.data : String(e.data));
    ws.onclose = (e) => this.closed(e.code, e.reason);
    ws.onerror = () => {}; // a close follows
  }

  private opened(): void {
    this.isOpen = true;
    this.lastHeard = Date.now();
    const subs = this.subs.subscriptions();
    if (this.epoch !== undefined && this.offset !== undefined) {
      this.resuming = true;
      this.send({ type: 'resume', epoch: this.epoch, offset: this.offset, filters: subs.map((s) => (s.where ? wire(s) : s.filter)) });
    } else {
      this.subscribeAll();
    }
  }

  private message(text: string): void {
    this.lastHeard = Date.now();
    let m: Msg;
    try {
      m = JSON.parse(text) as Msg;
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    if (typeof m['notification_type'] === 'string') return this.deliver(m as unknown as Notification);
    switch (m['type']) {
      case 'welcome': {
        const w = m as unknown as Welcome;
        this.attempt = 0;
        if (this.epoch === undefined || this.offset === undefined) {
          // A fresh start: track from the welcome's position.
          if (typeof w.epoch === 'string') this.epoch = w.epoch;
          if (isOffset(w.offset)) this.offset = w.offset;
        }
        this.scheduleRefresh(w.expires_at);
        this.setState('connected');
        this.events.emit('welcome', w);
        return;
      }
      case 'resumed':
        this.resuming = false;
        if (typeof m['epoch'] === 'string') this.epoch = m['epoch'];
        if (isOffset(m['offset']) && (this.offset === undefined || compareOffsets(m['offset'], this.offset) > 0)) this.offset = m['offset'];
        this.events.emit('resumed', m as unknown as ResumedEvent);
        return;
      case 'reset': {
        this.resuming = false;
        const r = m as unknown as ResetEvent;
        this.epoch = r.epoch;
        this.offset = isOffset(r.offset) ? r.offset : undefined;
        this.events.emit('reset', { reason: r.reason, epoch: r.epoch, offset: r.offset });
        return;
      }
      case 'refreshed':
        this.scheduleRefresh(m['expires_at']);
        return;
      case 'unsubscribed':
        if (m['reason'] === 'forbidden') this.forbid(String(m['filter']), `the token no longer allows ${String(m['filter'])}`);
        return;
      case 'error':
        return this.serverError(m);
    }
  }

  private serverError(m: Msg): void {
    const code = String(m['code']);
    const message = String(m['message'] ?? '');
    const filter = typeof m['filter'] === 'string' ? m['filter'] : undefined;
    if (code === 'forbidden' && filter !== undefined) this.forbid(filter, message);
    else {
      if (filter !== undefined) this.subs.remove(subscriptionOf(filter, m['where']).id); // refused for good (too_many_subscriptions): no resume carries it
      this.events.emit('error', { kind: 'server', code, message, ...(filter !== undefined && { filter }) });
    }
    if (!this.resuming) return;
    // A refused resume changed nothing and cannot be sent again on this connection. Forbidden: resume
    // anew without that filter, on a new connection. Otherwise (e.g. too_many_subscriptions) the
    // missed notifications are lost: subscribe here, and let the application reload.
    this.resuming = false;
    if (code === 'forbidden') {
      this.drop(4000, 'resume refused');
      this.retry();
    } else {
      this.offset = undefined;
      this.events.emit('reset', { reason: 'refused', epoch: this.epoch ?? '', offset: '' });
      this.subscribeAll();
    }
  }

  private subscribeAll(): void {
    for (const s of this.subs.subscriptions()) this.send({ type: 'subscribe', ...wire(s) });
  }

  private forbid(filter: string, message: string): void {
    this.subs.delete(filter);
    this.events.emit('error', { kind: 'forbidden', filter, message });
  }

  private deliver(n: Notification): void {
    if (isOffset(n.offset)) {
      if (this.offset !== undefined && compareOffsets(n.offset, this.offset) <= 0) return; // seen: a replay overlap
      this.offset = n.offset;
    }
    this.subs.dispatch(n, (error) => this.events.emit('error', { kind: 'handler', error }));
  }

  private scheduleRefresh(expiresAt: unknown): void {
    clearTimeout(this.refreshTimer);
    const token = this.opts.token;
    const delay = refreshDelay(expiresAt, this.opts.refreshBeforeMs);
    if (!token || delay === undefined) return;
    const ws = this.ws;
    this.refreshTimer = setTimeout(async () => {
      try {
        const fresh = await token();
        if (fresh && ws === this.ws && this.isOpen) this.send({ type: 'refresh', token: fresh });
      } catch (error) {
        // Not retried: the edge closes with 4004 at expiry, and the reconnect calls token() again.
        if (!this.stopped) this.events.emit('error', { kind: 'token', error });
      }
    }, delay);
  }

  /** Half-open detection: a ping every half of staleAfterMs; nothing heard for staleAfterMs replaces the socket. */
  private watch(): void {
    const stale = this.opts.staleAfterMs ?? 30_000;
    clearInterval(this.staleTimer);
    if (stale <= 0) return;
    this.staleTimer = setInterval(() => {
      if (Date.now() - this.lastHeard >= stale) {
        this.events.emit('error', { kind: 'stale' });
        this.drop(4000, 'stale');
        this.setState('connecting');
        this.retry();
      } else if (this.isOpen) {
        this.send({ type: 'ping' });
      }
    }, stale / 2);
  }

  private closed(code: number, reason: string): void {
    this.drop();
    if (this.stopped) return;
    if (closeAction(code) === 'stop') {
      this.stopped = true;
      this.setState('disconnected', { code, reason });
      return;
    }
    this.setState('connecting', { code, reason });
    this.retry();
  }

  /** Forgets the socket (its late events are ignored) and, with a code, closes it. */
  private drop(code?: number, reason?: string): void {
    clearInterval(this.staleTimer);
    clearTimeout(this.refreshTimer);
    const ws = this.ws;
    this.ws = undefined;
    this.isOpen = false;
    this.resuming = false;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (code !== undefined) closeQuietly(ws, code, reason);
  }

  private retry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const { minMs = 500, maxMs = 20_000 } = this.opts.reconnect ?? {};
    const delay = Math.random() * Math.min(maxMs, minMs * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  private send(m: Msg): void {
    try {
      this.ws?.send(JSON.stringify(m));
    } catch {
      // a closing socket: its close event follows
    }
  }
}

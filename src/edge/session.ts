/**
 * A session: one client connection's inbound requests (subscribe, unsubscribe, resume, ping),
 * their limits (message rate, subscriptions per connection) and its welcome. Transport-neutral:
 * it talks to the connection only through a Transport, so SSE sessions share subscriptions,
 * resume and — with authentication — permissions with WebSocket ones.
 *
 * Where later features go: permission checks of a filter (from the token's claims) before
 * `subscriptions.add` and `resume`; a token-refresh request is one more case of `message`.
 *
 * May import config and observability types, protocol, subscriptions, resume and the transport contract.
 */
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode, PONG, errorMessage, parseClientFrame, subscribedMessage, unsubscribedMessage, welcomeMessage } from '../protocol/messages.js';
import type { FeedPosition, Resumes } from './resume.js';
import type { Subscriptions } from './subscriptions.js';
import type { SessionState, Transport } from './transport.js';

const NO_FILTERS: readonly string[] = [];

export interface SessionsOptions {
  config: Pick<Config, 'maxInboundPerSecond' | 'maxSubscriptions'>;
  metrics: Metrics;
  subscriptions: Subscriptions;
  resumes: Resumes;
  /** For `welcome`: the epoch and newest offset a client may resume from. */
  feed: FeedPosition;
  /** This edge's id, the prefix of every client_id. */
  nodeId: string;
}

/** Every session of the edge, whatever its transport. */
export class Sessions {
  private readonly startedAt = Date.now();
  private clientSeq = 0;
  private readonly tooMany: string;

  constructor(private readonly opts: SessionsOptions) {
    this.tooMany = `at most ${opts.config.maxSubscriptions} subscriptions per connection`;
  }

  /** The state a new connection carries: always these six fields, in this order (see SessionState). */
  newState(): SessionState {
    return { seq: ++this.clientSeq, filters: NO_FILTERS, windowSecond: 0, windowCount: 0, replaying: false, started: false };
  }

  /** The client_id sent in welcome: this edge's node id and the connection's sequence number. */
  clientId(s: SessionState): string {
    return `${this.opts.nodeId}-${s.seq.toString(36)}`;
  }

  opened<C>(t: Transport<C>, c: C): void {
    const { feed } = this.opts;
    t.send(c, welcomeMessage(this.clientId(t.state(c)), { epoch: feed.epoch, offset: feed.lastOffset || undefined }));
  }

  /** One inbound frame. Over the rate limit the connection is closed (4002); other errors keep it open. */
  message<C>(t: Transport<C>, c: C, data: ArrayBuffer | string, isBinary: boolean): void {
    const { config, metrics, subscriptions } = this.opts;
    const s = t.state(c);
    const second = Math.floor((Date.now() - this.startedAt) / 1000);
    if (second !== s.windowSecond) {
      s.windowSecond = second;
      s.windowCount = 0;
    }
    if (++s.windowCount > config.maxInboundPerSecond) {
      metrics.clientErrors.inc({ code: 'rate_limited' });
      t.close(c, CloseCode.RateLimited, 'too many messages per second');
      return;
    }
    const reply = (code: ErrorCode, message: string) => {
      metrics.clientErrors.inc({ code });
      t.send(c, errorMessage(code, message));
    };
    if (isBinary) return reply(ErrorCode.BinaryNotSupported, 'send JSON text frames, not binary frames');
    const parsed = parseClientFrame(data);
    if (!parsed.ok) return reply(parsed.code, parsed.message);
    const msg = parsed.message;
    switch (msg.type) {
      case 'ping':
        t.send(c, PONG);
        return;
      case 'subscribe':
        s.started = true;
        if (!subscriptions.add(t, c, msg.filter)) return reply(ErrorCode.TooManySubscriptions, this.tooMany);
        t.send(c, subscribedMessage(msg.filter));
        return;
      case 'unsubscribe':
        s.started = true;
        subscriptions.remove(t, c, msg.filter);
        t.send(c, unsubscribedMessage(msg.filter));
        return;
      case 'resume':
        if (s.started) {
          return reply(ErrorCode.InvalidResume, 'resume must be the first request on a connection, before any subscribe, and only once');
        }
        if (!subscriptions.fits(msg.filters.length)) return reply(ErrorCode.TooManySubscriptions, this.tooMany);
        s.started = true;
        // Not live until the replay (or reset) puts it live: it holds no topics meanwhile.
        s.replaying = true;
        subscriptions.replace(s, msg.filters);
        this.opts.resumes.start(t, c, msg.epoch, msg.offset);
        return;
    }
  }

  /** The connection's send buffer drained: a replay waiting for that goes on. */
  drained(s: SessionState): void {
    this.opts.resumes.wake(s);
  }

  /** The connection closed (any reason): a waiting replay ends, its subscriptions go. */
  closed(s: SessionState): void {
    this.opts.resumes.wake(s);
    this.opts.subscriptions.closed(s);
  }
}

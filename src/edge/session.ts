/**
 * A session: one client connection's inbound requests (subscribe, unsubscribe, resume, refresh,
 * ping), their limits (message rate, subscriptions per connection), the permission check of every
 * filter (the connection's peer: its token's claims, peer.ts) and its welcome. Transport-neutral:
 * it talks to the connection only through a Transport, so SSE sessions share subscriptions,
 * resume, permissions and token refresh with WebSocket ones.
 *
 * May import config and observability types, protocol, auth (types), peer, subscriptions, resume
 * and the transport contract.
 */
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import {
  ErrorCode,
  PONG,
  errorMessage,
  forbiddenMessage,
  parseClientFrame,
  refreshedMessage,
  subscribedMessage,
  subscriptionErrorMessage,
  unauthorizedMessage,
  unsubscribedMessage,
  welcomeMessage,
} from '../protocol/messages.js';
import { filterOf, type WireSubscription } from '../protocol/subscription.js';
import type { Authenticator } from './auth/authenticator.js';
import { ANONYMOUS, peerAllows } from './peer.js';
import type { FeedPosition, Resumes } from './resume.js';
import type { Subscriptions } from './subscriptions.js';
import { Phase, type Peer, type SessionState, type Transport } from './transport.js';

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
  /** NOTIFIER_AUTH=jwt: verifies refresh tokens. Absent: anonymous connections, refresh unavailable. */
  authenticator?: Authenticator | undefined;
  /** A refresh was accepted or refused (metrics and logs by the caller). */
  onRefresh?: (outcome: 'ok' | 'missing' | 'invalid' | 'expired' | 'subject_changed') => void;
}

/** Why a connection's subscriptions were refused as a whole (Sessions.refusal). */
export type SubscriptionsRefusal = { code: typeof ErrorCode.TooManySubscriptions; message: string } | { code: typeof ErrorCode.Forbidden; filter: string };

/** Every session of the edge, whatever its transport. */
export class Sessions {
  private readonly startedAt = Date.now();
  private clientSeq = 0;
  private readonly tooMany: string;

  constructor(private readonly opts: SessionsOptions) {
    this.tooMany = `at most ${opts.config.maxSubscriptions} subscriptions per connection`;
  }

  /** The state a new connection carries: always these six fields, in this order (see SessionState). */
  newState(peer: Peer = ANONYMOUS): SessionState {
    return { seq: ++this.clientSeq, filters: NO_FILTERS, windowSecond: 0, windowCount: 0, phase: Phase.New, peer };
  }

  /** The client_id sent in welcome: this edge's node id and the connection's sequence number. */
  clientId(s: SessionState): string {
    return `${this.opts.nodeId}-${s.seq.toString(36)}`;
  }

  opened<C>(t: Transport<C>, c: C): void {
    const { feed } = this.opts;
    const s = t.state(c);
    const { sub, exp } = s.peer;
    t.send(
      c,
      welcomeMessage(this.clientId(s), {
        epoch: feed.epoch,
        offset: feed.lastOffset || undefined,
        ...(sub !== undefined ? { user_id: sub, expires_at: new Date(exp * 1000).toISOString() } : {}),
      }),
    );
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
      case 'subscribe': {
        const sub = msg.subscription;
        if (!peerAllows(s.peer, sub.filter)) return this.forbidden(t, c, sub.filter);
        if (s.phase === Phase.New) s.phase = Phase.Started;
        if (!subscriptions.add(t, c, sub)) {
          metrics.clientErrors.inc({ code: ErrorCode.TooManySubscriptions });
          return t.send(c, subscriptionErrorMessage(ErrorCode.TooManySubscriptions, this.tooMany, sub.id));
        }
        t.send(c, subscribedMessage(sub.id));
        return;
      }
      case 'unsubscribe':
        if (s.phase === Phase.New) s.phase = Phase.Started;
        subscriptions.remove(t, c, msg.subscription.id);
        t.send(c, unsubscribedMessage(msg.subscription.id));
        return;
      case 'resume': {
        if (s.phase !== Phase.New) {
          return reply(ErrorCode.InvalidResume, 'resume must be the first request on a connection, before any subscribe, and only once');
        }
        const refused = this.refusal(s.peer, msg.subscriptions);
        if (refused !== undefined) return t.send(c, refused.code === ErrorCode.Forbidden ? forbiddenMessage(refused.filter) : errorMessage(refused.code, refused.message));
        this.begin(t, c, msg.subscriptions, msg);
        return;
      }
      case 'refresh':
        if (this.opts.authenticator === undefined) return reply(ErrorCode.RefreshUnavailable, 'this edge does not use tokens (NOTIFIER_AUTH=none)');
        void this.refresh(this.opts.authenticator, t, c, msg.token);
        return;
    }
  }

  private forbidden<C>(t: Transport<C>, c: C, filter: string): void {
    this.countForbidden();
    t.send(c, forbiddenMessage(filter));
  }

  private countForbidden(): void {
    this.opts.metrics.clientErrors.inc({ code: ErrorCode.Forbidden });
    this.opts.metrics.forbiddenSubscribes.inc();
  }

  /**
   * Why a connection may not start with these subscriptions (too many, or a filter its peer may
   * not have: counted in the metrics), or undefined. A resume asks it, and SSE before it answers.
   */
  refusal(peer: Peer, subs: readonly WireSubscription[]): SubscriptionsRefusal | undefined {
    const { metrics, subscriptions } = this.opts;
    if (!subscriptions.fits(subs.length)) {
      metrics.clientErrors.inc({ code: ErrorCode.TooManySubscriptions });
      return { code: ErrorCode.TooManySubscriptions, message: this.tooMany };
    }
    for (const { filter } of subs) {
      if (peerAllows(peer, filter)) continue;
      this.countForbidden();
      return { code: ErrorCode.Forbidden, filter };
    }
    return undefined;
  }

  /**
   * Starts a new connection's subscriptions at once (a resume's; SSE's, from its request), after
   * `refusal` found nothing: live now, or from a bus position (`from`: replay then live, or reset).
   */
  begin<C>(t: Transport<C>, c: C, subs: readonly WireSubscription[], from?: { epoch: string; offset: string }): void {
    const { subscriptions, resumes } = this.opts;
    const s = t.state(c);
    if (from === undefined) {
      s.phase = Phase.Started;
      for (const sub of subs) subscriptions.add(t, c, sub);
      return;
    }
    // Not live until the replay (or reset) puts it live: it holds no topics meanwhile.
    s.phase = Phase.Replaying;
    subscriptions.replace(s, subs);
    resumes.start(t, c, from.epoch, from.offset);
  }

  /**
   * A new token for the same subject: permissions and scope are recomputed, filters no longer
   * allowed are removed (`unsubscribed` with reason forbidden). Another subject closes the
   * connection with 4500 (a client must not switch users on a connection); a refused token leaves
   * the current one in force.
   */
  private async refresh<C>(authenticator: Authenticator, t: Transport<C>, c: C, token: string): Promise<void> {
    const { subscriptions, onRefresh } = this.opts;
    const before = t.state(c).peer;
    const result = await authenticator.authenticate(token, before.ip);
    if (!t.isOpen(c)) return;
    if (!result.ok) {
      onRefresh?.(result.reason);
      this.opts.metrics.clientErrors.inc({ code: ErrorCode.Unauthorized });
      t.send(c, unauthorizedMessage(result.reason));
      return;
    }
    const s = t.state(c);
    if (result.peer.sub !== s.peer.sub) {
      onRefresh?.('subject_changed');
      t.close(c, CloseCode.TokenSubjectChanged, 'refresh token is for another subject: reconnect with its own connection');
      return;
    }
    const peer = result.peer;
    const dropped = subscriptions.changePeer(t, c, peer, (id) => peerAllows(peer, filterOf(id)));
    for (const f of dropped) t.send(c, unsubscribedMessage(f, 'forbidden'));
    onRefresh?.('ok');
    t.send(c, refreshedMessage(new Date(peer.exp * 1000).toISOString()));
  }

  /** The connection's send buffer drained: a replay waiting for that goes on. */
  drained(s: SessionState): void {
    this.opts.resumes.wake(s);
  }

  /** The connection closed (any reason): a waiting replay ends, its subscriptions go. */
  closed(s: SessionState): void {
    this.opts.resumes.closed(s);
    this.opts.subscriptions.closed(s);
  }
}

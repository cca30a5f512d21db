/**
 * Resume: puts a resuming connection live with no gap and no duplicate. Either it replays what
 * the connection missed since its offset (replay.ts, reading through HistoryReads) and then
 * joins its topics, or — when that history is gone (another epoch, or trimmed) — it sends
 * `reset` and puts it live from now.
 *
 * Replays run at most NOTIFIER_MAX_CONCURRENT_REPLAYS at once per edge (replay-slots.ts); more
 * wait their turn, out of their topics, and lose nothing.
 *
 * Transport-neutral: works on any Transport, so SSE's Last-Event-ID resumes the same way.
 *
 * May import observability types, protocol, replay, replay-slots, history-reads, subscriptions
 * and the transport contract.
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ZERO_OFFSET } from '../protocol/offsets.js';
import { resetMessage, resumedMessage } from '../protocol/messages.js';
import type { HistoryReads } from './history-reads.js';
import type { NotificationScopes } from './notification-scopes.js';
import { replay } from './replay.js';
import { ReplaySlots } from './replay-slots.js';
import type { Subscriptions } from './subscriptions.js';
import type { SessionState, Transport } from './transport.js';

/** Notifications read from the history per bus round trip during a replay. */
const REPLAY_CHUNK = 200;

/** The edge's place in the bus history (BusFeed). */
export interface FeedPosition {
  readonly epoch: string | undefined;
  /** The newest offset delivered ('' before the first is known). */
  readonly lastOffset: string;
}

export interface ResumesOptions {
  feed: FeedPosition;
  /** A scoped connection replays only notifications of its scope. */
  scopes: NotificationScopes;
  history: HistoryReads;
  subscriptions: Subscriptions;
  metrics: Metrics;
  logger: Logger;
  /** A replay waits for the send buffer to drain below this before sending more. */
  maxBuffered: number;
  /** Replays running at once; more wait in line. */
  maxConcurrent: number;
}

export class Resumes {
  /** Wakes the replay of a connection waiting for its send buffer to drain (only those). */
  private readonly drainWaiters = new Map<SessionState, () => void>();
  private readonly slots: ReplaySlots<SessionState>;

  constructor(private readonly opts: ResumesOptions) {
    this.slots = new ReplaySlots(opts.maxConcurrent);
  }

  /** Replays running, and waiting for a slot. */
  get replays(): { running: number; waiting: number } {
    return { running: this.slots.active, waiting: this.slots.waiting };
  }

  /**
   * Replays since `offset` then goes live, or resets. The caller has set the connection's filters
   * and marked it replaying (session.ts: before the filters change, so it joins no topic meanwhile).
   */
  start<C>(t: Transport<C>, c: C, epoch: string, offset: string): void {
    const { feed } = this.opts;
    if (feed.epoch === undefined || epoch !== feed.epoch) {
      this.reset(t, c, 'epoch');
      return;
    }
    const s = t.state(c);
    this.slots.acquire(s, () => this.run(t, c, s, epoch, offset));
  }

  /** The replay itself, holding a slot until it ends. */
  private run<C>(t: Transport<C>, c: C, s: SessionState, epoch: string, offset: string): void {
    const { feed, history, subscriptions, metrics, logger, maxBuffered, scopes } = this.opts;
    // It may have waited for its slot while the bus history changed epoch.
    if (epoch !== feed.epoch) {
      if (t.isOpen(c)) this.reset(t, c, 'epoch');
      this.slots.release();
      return;
    }
    replay(
      { readAfter: (after, count) => history.readAfter(after, count), liveOffset: () => feed.lastOffset },
      {
        isOpen: () => t.isOpen(c),
        // Read per notification: subscriptions and a token refresh's scope may change while the replay runs.
        wants: (n) =>
          (s.peer.scope === undefined || scopes.of(n) === s.peer.scope) && subscriptions.wheres.wants(s.filters, n),
        deliver: (n) => t.deliver(c, n),
        bufferedAmount: () => t.bufferedAmount(c),
        drained: () => new Promise<void>((resolve) => this.drainWaiters.set(s, resolve)),
        goLive: (at, replayed) => {
          subscriptions.goLive(t, c, () => t.send(c, resumedMessage(feed.epoch ?? epoch, at, replayed)));
          metrics.resumes.inc({ outcome: 'recovered' });
          metrics.replayed.inc(replayed);
        },
      },
      offset,
      { chunk: REPLAY_CHUNK, maxBuffered },
    )
      .then(
        (result) => {
          if (result.status === 'expired' && t.isOpen(c)) this.reset(t, c, 'expired');
        },
        (err: Error) => {
          logger.warn({ event: 'edge:resume:error', err: err.message }, 'replay failed; resetting the client');
          if (t.isOpen(c)) this.reset(t, c, 'expired');
        },
      )
      .finally(() => this.slots.release());
  }

  /** The connection's send buffer drained, or it closed: a replay waiting for that goes on. */
  wake(s: SessionState): void {
    const wake = this.drainWaiters.get(s);
    if (wake === undefined) return;
    this.drainWaiters.delete(s);
    wake();
  }

  /** The connection closed: a replay waiting to drain ends, one waiting for a slot leaves the line. */
  closed(s: SessionState): void {
    this.slots.leave(s);
    this.wake(s);
  }

  /** Tells the client its history is gone and puts it live from the edge's current offset. */
  private reset<C>(t: Transport<C>, c: C, reason: 'epoch' | 'expired'): void {
    const { feed, subscriptions, metrics } = this.opts;
    subscriptions.goLive(t, c, () => t.send(c, resetMessage(reason, feed.epoch ?? '', feed.lastOffset || ZERO_OFFSET)));
    metrics.resumes.inc({ outcome: 'reset' });
  }
}

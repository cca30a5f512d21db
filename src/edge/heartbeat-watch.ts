/**
 * Whether this edge's bus subscription is alive, judged by the leader's heartbeats (one a second).
 *
 * When heartbeats stop reaching this edge, it asks the bus when the leader last heartbeated (the
 * leader also writes it to a key). If recently, this edge's subscription is broken: it says so
 * (the edge turns unready) and re-establishes it. If not, there is no leader — a cluster matter,
 * and the edge stays healthy.
 *
 * May import the bus contract and observability types; nothing else of the edge.
 */
import type { Bus, BusHeartbeat } from '../bus/bus.js';
import type { Logger } from '../observability/logger.js';

export type HeartbeatHealth = 'fresh' | 'no-leader' | 'subscription-broken';

export interface HeartbeatWatchOptions {
  bus: Bus;
  logger: Logger;
  /** No heartbeat for this long (ms) makes the watch ask the bus. */
  staleMs: number;
  /** Only a live subscription can be found broken. */
  isSubscribed: () => boolean;
}

export class HeartbeatWatch {
  health: HeartbeatHealth = 'fresh';
  /** The newest heartbeat heard. */
  last: BusHeartbeat | undefined;
  private lastAt = 0;
  private subscribedAt = 0;
  private checking = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HeartbeatWatchOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), Math.min(1000, this.opts.staleMs / 2));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The subscription was (re-)established: heartbeats are due from now. */
  subscribed(): void {
    this.subscribedAt = Date.now();
  }

  heard(h: BusHeartbeat): void {
    this.last = h;
    this.lastAt = Date.now();
    if (this.health !== 'fresh') this.setHealth('fresh');
  }

  /** Milliseconds since the last heartbeat, or null before the first. */
  ageMs(): number | null {
    return this.lastAt === 0 ? null : Date.now() - this.lastAt;
  }

  private async check(): Promise<void> {
    const stale = this.opts.staleMs;
    const localAge = () => Date.now() - Math.max(this.lastAt, this.subscribedAt);
    if (!this.opts.isSubscribed() || this.checking || localAge() < stale) return;
    this.checking = true;
    try {
      const at = await this.opts.bus.leaderHeartbeatAt();
      // The reply comes after any socket reads that were pending (after a busy stretch timers
      // can run before them): only a heartbeat still missing now counts.
      if (localAge() < stale) return;
      const broken = at !== null && Date.now() - at < stale;
      this.setHealth(broken ? 'subscription-broken' : 'no-leader');
      if (broken) this.opts.bus.resubscribe();
    } catch {
      // Bus unreachable: the subscription reports that itself (onUnsubscribed).
    } finally {
      this.checking = false;
    }
  }

  private setHealth(health: HeartbeatHealth): void {
    if (health === this.health) return;
    this.health = health;
    const { logger } = this.opts;
    if (health === 'fresh') {
      logger.info({ event: 'edge:heartbeat:fresh', leader: this.last?.leader }, 'leader heartbeat received');
    } else if (health === 'no-leader') {
      logger.warn({ event: 'edge:leader:absent' }, 'no leader heartbeat on the bus: is any listener leading? This edge stays ready.');
    } else {
      logger.error(
        { event: 'edge:bus:subscription-broken' },
        'the leader heartbeats but this edge does not receive it: re-subscribing; not ready until then',
      );
    }
  }
}

/**
 * Subscription bookkeeping: a connection's filters, the routing topics they put it in (through
 * the FilterIndex, shared with delivery.ts) and the subscription counts and metrics.
 *
 * A connection holds the topics of its filter set, except while a resume replays (it joins them
 * when it goes live). Those topics are derived from its filters whenever needed, never stored:
 * a stored list cost each connection an array and, with several filters, its own copies of the
 * topic strings.
 *
 * A scoped connection (its token's tenant scope) routes through its scope's index
 * (scoped-indexes.ts); a token refresh that changes the scope moves it (`changePeer`).
 *
 * A subscription is named by its id (protocol/subscription.ts): its filter, or its filter and
 * payload predicate. `s.filters` holds ids; a predicate is retained in the shared Wheres while
 * some connection's subscription uses it.
 *
 * May import observability types, protocol, filter-index, scoped-indexes and the transport contract.
 */
import type { Metrics } from '../observability/metrics.js';
import { filterKind } from '../protocol/filters.js';
import type { WireSubscription } from '../protocol/subscription.js';
import type { FilterIndex } from './filter-index.js';
import type { ScopedIndexes } from './scoped-indexes.js';
import type { Wheres } from './wheres.js';
import { Phase, type Peer, type SessionState, type Transport } from './transport.js';

const NO_TOPICS: readonly string[] = [];

export class Subscriptions {
  /** Subscriptions of every open connection (GET /stats `total_subscriptions`). */
  count = 0;

  /** Interns broad filters (shared strings) for every scope. */
  private readonly interner: FilterIndex;

  constructor(
    private readonly indexes: ScopedIndexes,
    private readonly metrics: Metrics,
    private readonly maxPerConnection: number,
  ) {
    this.interner = indexes.unscoped;
  }

  /** Adds a subscription (a repeat is a no-op); false when the connection is at its limit. */
  add<C>(t: Transport<C>, c: C, sub: WireSubscription): boolean {
    const s = t.state(c);
    if (s.filters.includes(sub.id)) return true;
    if (s.filters.length >= this.maxPerConnection) return false;
    const held = this.held(s);
    this.indexes.wheres.retain(sub);
    s.filters = s.filters.concat(this.interner.intern(sub.id));
    this.count += 1;
    this.metrics.subscriptions.inc({ kind: filterKind(sub.id) });
    this.move(t, c, held);
    return true;
  }

  /** Removes a subscription (by id) if the connection has it. */
  remove<C>(t: Transport<C>, c: C, id: string): void {
    const s = t.state(c);
    const at = s.filters.indexOf(id);
    if (at < 0) return;
    const held = this.held(s);
    s.filters = s.filters.toSpliced(at, 1);
    this.count -= 1;
    this.metrics.subscriptions.dec({ kind: filterKind(id) });
    this.move(t, c, held);
    this.indexes.wheres.release(id);
  }

  /** The compiled predicates of every connection's subscriptions. */
  get wheres(): Wheres {
    return this.indexes.wheres;
  }

  /** Whether `n` filters fit one connection. */
  fits(n: number): boolean {
    return n <= this.maxPerConnection;
  }

  /** A resume's subscriptions, on a connection that has none and holds no topics (it is replaying). */
  replace(s: SessionState, subs: readonly WireSubscription[]): void {
    for (const sub of subs) this.indexes.wheres.retain(sub);
    s.filters = subs.map((sub) => this.interner.intern(sub.id));
    for (const sub of subs) this.metrics.subscriptions.inc({ kind: filterKind(sub.id) });
    this.count += s.filters.length;
  }

  /** A replay is over: the connection joins its filters' topics. `announce` goes out first. */
  goLive<C>(t: Transport<C>, c: C, announce: () => void): void {
    const s = t.state(c);
    const held = this.held(s);
    s.phase = Phase.Started;
    announce();
    this.move(t, c, held);
  }

  /**
   * A new peer (token refresh): filters it may no longer hold are dropped first (the caller
   * tells the client), then the connection moves to its new scope's topics if the scope changed.
   */
  changePeer<C>(t: Transport<C>, c: C, peer: Peer, keep: (filter: string) => boolean): string[] {
    const s = t.state(c);
    const dropped = s.filters.filter((f) => !keep(f));
    for (const f of dropped) this.remove(t, c, f);
    if (peer.scope === s.peer.scope) {
      s.peer = peer;
      return dropped;
    }
    const oldScope = s.peer.scope;
    const held = this.held(s);
    const oldIndex = this.indexes.of(oldScope);
    s.peer = peer;
    if (s.phase !== Phase.Replaying) {
      const after = s.filters.length > 0 ? this.indexes.of(peer.scope).acquire(s.filters) : NO_TOPICS;
      for (const topic of held) t.leave(c, topic);
      for (const topic of after) t.join(c, topic);
    }
    oldIndex.release(held);
    this.indexes.prune(oldScope);
    return dropped;
  }

  /** The connection closed: its topics and subscriptions go. */
  closed(s: SessionState): void {
    this.indexes.of(s.peer.scope).release(this.held(s));
    this.indexes.prune(s.peer.scope);
    for (const f of s.filters) {
      this.metrics.subscriptions.dec({ kind: filterKind(f) });
      this.indexes.wheres.release(f);
    }
    this.count -= s.filters.length;
  }

  /** The topics a connection holds (in the index and in its transport). */
  private held(s: SessionState): readonly string[] {
    return s.phase === Phase.Replaying || s.filters.length === 0 ? NO_TOPICS : this.indexes.of(s.peer.scope).topicsOf(s.filters);
  }

  /**
   * Re-homes a connection from the topics it held (`before`, held() before its change) to those
   * of its current filter set; a replay does it when done.
   */
  private move<C>(t: Transport<C>, c: C, before: readonly string[]): void {
    const s = t.state(c);
    if (s.phase === Phase.Replaying) return;
    const index = this.indexes.of(s.peer.scope);
    const after = s.filters.length > 0 ? index.acquire(s.filters) : NO_TOPICS;
    for (const topic of before) if (!after.includes(topic)) t.leave(c, topic);
    for (const topic of after) if (!before.includes(topic)) t.join(c, topic);
    index.release(before);
    this.indexes.prune(s.peer.scope);
  }
}

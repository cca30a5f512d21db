/**
 * Replays the notifications a resuming connection missed, then puts it live, with no gap and no
 * duplicate.
 *
 * The edge routes live notifications to topics; a resuming connection is kept out of its topic
 * while this runs. We read the history after the client's offset in chunks and send what matches,
 * but only up to the offset the edge has itself routed live so far (`liveOffset`): anything newer
 * will reach the connection through its topic. When the replay position equals `liveOffset`, the
 * connection joins its topic in the same turn — uWS keeps `send` before a later `publish` in order,
 * and no live notification can be routed in between.
 *
 * Bounded and fair: one chunk per bus round trip, and the connection's send buffer must drain below
 * `maxBuffered` before more is sent, so one resuming client never holds up the others.
 *
 * May import the bus contract (types) and protocol; knows no transport (ReplayTarget is its seam).
 */
import type { BusNotification, HistoryPage } from '../bus/bus.js';
import { compareOffsets } from '../protocol/offsets.js';

export interface ReplaySource {
  readAfter(after: string, count: number): Promise<HistoryPage>;
  /** The newest offset the edge has routed live ('' when none yet). */
  liveOffset(): string;
}

export interface ReplayTarget {
  isOpen(): boolean;
  /**
   * Whether the connection wants this notification: its current subscriptions (they may change
   * while the replay runs; filters and predicates) and its tenant scope.
   */
  wants(n: BusNotification): boolean;
  deliver(n: BusNotification): void;
  bufferedAmount(): number;
  /** Resolves when the send buffer drained (or the connection closed). */
  drained(): Promise<void>;
  /** Joins the live topic. Called synchronously right after the last replayed frame. */
  goLive(offset: string, replayed: number): void;
}

export type ReplayResult =
  | { status: 'live'; offset: string; replayed: number }
  | { status: 'expired' }
  | { status: 'closed' };

export interface ReplayOptions {
  chunk: number;
  maxBuffered: number;
}

export async function replay(source: ReplaySource, target: ReplayTarget, from: string, opts: ReplayOptions): Promise<ReplayResult> {
  let pos = from;
  let replayed = 0;
  for (;;) {
    if (!target.isOpen()) return { status: 'closed' };
    const live = source.liveOffset();
    if (live === '' || compareOffsets(pos, live) >= 0) {
      target.goLive(pos, replayed);
      return { status: 'live', offset: pos, replayed };
    }
    const page = await source.readAfter(pos, opts.chunk);
    if (!target.isOpen()) return { status: 'closed' };
    if (!page.complete) return { status: 'expired' };
    if (page.items.length === 0) {
      // The history has nothing after pos although the edge routed something newer: only
      // possible across a history loss (new epoch) — the client cannot be caught up exactly.
      return { status: 'expired' };
    }
    const limit = source.liveOffset();
    for (const n of page.items) {
      if (compareOffsets(n.offset, limit) > 0) break; // newer than live routing: comes via the topic
      if (target.wants(n)) {
        target.deliver(n);
        replayed += 1;
      }
      pos = n.offset;
      if (target.bufferedAmount() > opts.maxBuffered) {
        await target.drained();
        if (!target.isOpen()) return { status: 'closed' };
      }
    }
  }
}

/**
 * The edge's own copy of the newest notifications it delivered, so resuming clients are replayed
 * from memory instead of one Redis read each.
 *
 * Why: after an edge dies, its clients all resume on the others within a second or two, from
 * nearly the same offset. Reading the history from Redis for each (10,000 reads of the same
 * entries, parsed in JavaScript on one connection) timed out and reset most of them (bench
 * 6-reconnect); and a replay that needs a bus round trip per chunk keeps chasing the live feed.
 * From memory, a replay finishes in the turn it starts in.
 *
 * Holds a contiguous chain (each entry's `prev` is the entry before it): the feed delivers in
 * order, exactly once, and any break (a resync, a new epoch) starts the chain afresh. Bounded by
 * the frames' total size; the oldest entries go first.
 *
 * May import the bus contract (types) and protocol.
 */
import type { BusNotification, HistoryPage } from '../bus/bus.js';
import { compareOffsets } from '../protocol/offsets.js';

/** Per-entry overhead counted on top of the frame bytes (object, offsets, keys). */
const ENTRY_OVERHEAD = 200;

export class RecentHistory {
  private items: BusNotification[] = [];
  private head = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(n: BusNotification): void {
    if (this.maxBytes <= 0) return;
    const newest = this.items[this.items.length - 1];
    if (this.size > 0 && newest !== undefined && n.prev !== newest.offset) this.clear();
    this.items.push(n);
    this.bytes += cost(n);
    while (this.bytes > this.maxBytes && this.size > 1) {
      const oldest = this.items[this.head] as BusNotification;
      this.bytes -= cost(oldest);
      this.head += 1;
    }
    // Compact once the evicted prefix dominates, so memory follows the live entries.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Up to `count` notifications after offset `after`, when this copy holds it; else undefined (ask the bus). */
  readAfter(after: string, count: number): HistoryPage | undefined {
    if (this.size === 0) return undefined;
    const oldest = this.items[this.head] as BusNotification;
    let start: number;
    if (after === oldest.prev) {
      start = this.head;
    } else {
      const at = this.indexOf(after);
      if (at === undefined) return undefined;
      start = at + 1;
    }
    return { items: this.items.slice(start, start + count), complete: true };
  }

  private indexOf(offset: string): number | undefined {
    let lo = this.head;
    let hi = this.items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareOffsets((this.items[mid] as BusNotification).offset, offset);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}

function cost(n: BusNotification): number {
  return (typeof n.frame === 'string' ? n.frame.length : n.frame.byteLength) + ENTRY_OVERHEAD;
}

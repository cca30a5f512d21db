/**
 * In-process bus for `notifier start` without Redis, and for unit tests. Same contract as the
 * Redis bus: ordered offsets, bounded history, dedupe by id, heartbeats. Frames are closed with
 * protocol/frame.frameWithOffset, as the Redis script closes them.
 *
 * Imports: bus/ and protocol/ only.
 */
import { randomUUID } from 'node:crypto';
import { frameWithOffset } from '../protocol/frame.js';
import { compareOffsets, ZERO_OFFSET } from '../protocol/offsets.js';
import { type Bus, type BusHandler, type BusNotification, type BusPosition, type HistoryPage, type PublishItem } from './bus.js';

export interface MemoryBusOptions {
  /** Notifications kept for history (and dedupe). */
  retention?: number;
}

export class MemoryBus implements Bus {
  readonly epoch = randomUUID();
  private readonly handlers: BusHandler[] = [];
  private readonly history: BusNotification[] = [];
  private readonly seen = new Map<string, string>();
  private readonly publishedBatches = new Map<string, string[]>();
  private readonly retention: number;
  private lastMs = 0;
  private seq = 0;
  private last = ZERO_OFFSET;
  private lastHeartbeat: number | null = null;

  constructor(opts: MemoryBusOptions = {}) {
    this.retention = opts.retention ?? 10_000;
  }

  publish(items: readonly PublishItem[], batchId = ''): Promise<string[]> {
    const done = this.publishedBatches.get(batchId);
    if (done !== undefined) return Promise.resolve([...done]);
    const offsets: string[] = [];
    for (const it of items) {
      const existing = it.id === '' ? undefined : this.seen.get(it.id);
      if (existing !== undefined) {
        offsets.push(existing);
        continue;
      }
      const offset = this.nextOffset();
      const n: BusNotification = {
        offset,
        prev: this.last,
        keys: it.keys,
        notificationType: it.notificationType,
        sourceTime: it.sourceTime,
        frame: frameWithOffset(it.head, offset),
      };
      this.last = offset;
      this.remember(it.id, n);
      for (const h of this.handlers) h.onNotification(n);
      offsets.push(offset);
    }
    if (batchId !== '') {
      this.publishedBatches.set(batchId, offsets);
      if (this.publishedBatches.size > this.retention) this.publishedBatches.delete(this.publishedBatches.keys().next().value as string);
    }
    return Promise.resolve(offsets);
  }

  heartbeat(leaderId: string): Promise<void> {
    const h = { epoch: this.epoch, last: this.last, leader: leaderId, at: Date.now() };
    this.lastHeartbeat = h.at;
    for (const handler of this.handlers) handler.onHeartbeat(h);
    return Promise.resolve();
  }

  subscribe(handler: BusHandler): Promise<void> {
    this.handlers.push(handler);
    handler.onSubscribed?.();
    return Promise.resolve();
  }

  /** In-process delivery cannot break; re-announces the subscription. */
  resubscribe(): void {
    for (const h of this.handlers) h.onSubscribed?.();
  }

  position(): Promise<BusPosition> {
    return Promise.resolve({ epoch: this.epoch, last: this.last });
  }

  readAfter(after: string, count: number): Promise<HistoryPage> {
    // History is in offset order: binary search for the first entry after `after`.
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareOffsets(this.history[mid]!.offset, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const items = this.history.slice(lo, lo + count);
    return Promise.resolve({ items, complete: items.length === 0 || items[0]?.prev === after });
  }

  leaderHeartbeatAt(): Promise<number | null> {
    return Promise.resolve(this.lastHeartbeat);
  }

  close(): Promise<void> {
    this.handlers.length = 0;
    return Promise.resolve();
  }

  /** Redis-stream-like ids (`<ms>-<seq>`), strictly increasing. */
  private nextOffset(): string {
    const now = Math.max(Date.now(), this.lastMs);
    this.seq = now === this.lastMs ? this.seq + 1 : 0;
    this.lastMs = now;
    return `${now}-${this.seq}`;
  }

  private remember(id: string, n: BusNotification): void {
    this.history.push(n);
    if (id !== '') this.seen.set(id, n.offset);
    if (this.history.length > this.retention) this.history.shift();
    if (this.seen.size > this.retention) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }
}

/**
 * Where a replay reads the history: this edge's recent copy (RecentHistory) when it reaches back
 * far enough, else the bus — one read per position however many clients resume from it, retried
 * with back-off before the resume gives up (and the client gets `reset`).
 *
 * May import the bus contract, observability types, util and recent-history.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, BusNotification, HistoryPage } from '../bus/bus.js';
import type { Metrics } from '../observability/metrics.js';
import { backoffDelay } from '../util/backoff.js';
import { RecentHistory } from './recent-history.js';

/** Bus reads for a replay: the first and two retries, ~250–500 ms then ~500–1000 ms apart. */
const READ_ATTEMPTS = 3;
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 2000;

export class HistoryReads {
  private readonly recent: RecentHistory;
  /** Bus reads in flight, by position: resumes from the same offset share one read. */
  private readonly reads = new Map<string, Promise<HistoryPage>>();

  constructor(
    private readonly bus: Bus,
    private readonly metrics: Metrics,
    cacheBytes: number,
  ) {
    this.recent = new RecentHistory(cacheBytes);
  }

  /** Keeps a delivered notification (in offset order, as the feed delivers) for later replays. */
  remember(n: BusNotification): void {
    this.recent.push(n);
  }

  readAfter(after: string, count: number): Promise<HistoryPage> {
    const local = this.recent.readAfter(after, count);
    if (local !== undefined) {
      this.metrics.replayReads.inc({ source: 'memory' });
      return Promise.resolve(local);
    }
    const key = `${after}/${count}`;
    let read = this.reads.get(key);
    if (read === undefined) {
      this.metrics.replayReads.inc({ source: 'bus' });
      read = retry(() => this.bus.readAfter(after, count), READ_ATTEMPTS).finally(() => this.reads.delete(key));
      this.reads.set(key, read);
    }
    return read;
  }
}

/** `fn`, tried up to `attempts` times with back-off while it rejects; the last rejection stands. */
async function retry<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let attempt = 0; attempt < attempts - 1; attempt++) {
    try {
      return await fn();
    } catch {
      await sleep(backoffDelay(attempt, RETRY_BASE_MS, RETRY_MAX_MS));
    }
  }
  return fn();
}

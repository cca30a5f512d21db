/**
 * Producers: send benchmark notifications into a subject (for notifier: `pg_notify` on one
 * PostgreSQL connection; for the peers: Redis PUBLISH), stamped with `sent_at` (monoMs) so the
 * sampled clients can compute send → receive latency.
 *
 * - fixedRate: one notification per statement on a fixed schedule (no drift), for latency.
 * - maxRate: as fast as the clients take them, with flow control: at most `window`
 *   notifications beyond what the slowest clients have received are in flight. Without it a
 *   source faster than the fan-out (PostgreSQL NOTIFY alone does ~19k/s) would just fill buffers
 *   until something drops or closes, and measure that instead of throughput.
 */
import type { BenchItem, Subject } from '../peers/subject.js';
import { monoMs } from './frames.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface FixedRateResult {
  sent: number;
  /** Sends that failed (the subject's input refused them). */
  errors: number;
  /** How late the last send started versus its schedule, ms (the producer itself keeping up). */
  lateMs: number;
}

export async function fixedRate(subject: Subject, o: { rate: number; durationMs: number; firstSeq?: number; userOf?: (seq: number) => number | null }): Promise<FixedRateResult> {
  const count = Math.round((o.rate * o.durationMs) / 1000);
  const interval = 1000 / o.rate;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  let errors = 0;
  let lateMs = 0;
  for (let k = 0; k < count; k++) {
    const due = start + k * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    lateMs = Math.max(0, performance.now() - due);
    const seq = (o.firstSeq ?? 0) + k;
    inflight.push(subject.send([{ seq, userId: o.userOf?.(seq) ?? null, sentAt: monoMs() }]).catch(() => void errors++));
  }
  await Promise.all(inflight);
  return { sent: count, errors, lateMs };
}

export interface MaxRateDriver {
  /** Notifications sent so far. */
  readonly sent: number;
  /** Stops sending; resolves with the total once the last batch was accepted. */
  stop(): Promise<number>;
}

export interface MaxRateOptions {
  /** Notifications-equivalent the slowest clients have received (e.g. LoadGen.progress()). */
  received: () => number;
  /** Resolves when `received` may have changed (e.g. LoadGen.nextProgress()). */
  changed: () => Promise<void>;
  /** Most notifications in flight beyond `received`. */
  window: number;
  /** Most notifications per batch (one statement / one pipeline). */
  maxBatch: number;
  userOf?: (seq: number) => number | null;
  /** `tenant_id` of notification seq (absent: none). */
  tenantOf?: ((seq: number) => string) | undefined;
  /** `bucket` of notification seq (absent: none). */
  bucketOf?: ((seq: number) => number) | undefined;
  firstSeq?: number;
}

export function maxRate(subject: Subject, o: MaxRateOptions): MaxRateDriver {
  let sent = 0;
  let running = true;
  let seq = o.firstSeq ?? 0;
  const loop = (async () => {
    while (running) {
      const room = Math.min(o.maxBatch, o.window - (sent - o.received()));
      if (room < Math.min(o.maxBatch, o.window / 4)) {
        await o.changed();
        continue;
      }
      const sentAt = monoMs();
      const items: BenchItem[] = [];
      for (let k = 0; k < room; k++, seq++) {
        items.push({ seq, userId: o.userOf?.(seq) ?? null, sentAt, ...(o.tenantOf && { tenant: o.tenantOf(seq) }), ...(o.bucketOf && { bucket: o.bucketOf(seq) }) });
      }
      await subject.send(items);
      sent += items.length;
    }
  })();
  return {
    get sent() {
      return sent;
    },
    stop: async () => {
      running = false;
      await loop;
      return sent;
    },
  };
}

export { sleep };

/**
 * A server under test, as the scenarios see it: where clients connect, which process to weigh,
 * and how to send it notifications through its own real input path (PostgreSQL for notifier,
 * Redis PUBLISH for the peers).
 */
import type { ChildProcess } from 'node:child_process';
import type { LoadMode } from '../loadgen/messages.js';
import type { ClientAuth } from '../loadgen/tokens.js';

/** One notification a producer sends. */
export interface BenchItem {
  seq: number;
  /** `user_id` of the notification (null: none); the peers publish it to topic `user:<id>` instead of `all`. */
  userId: number | null;
  /** `tenant_id` of the notification (absent: none), for tenant-scoped clients. */
  tenant?: string;
  /** `bucket` of the notification (absent: none), for payload predicates (scenario 1p). */
  bucket?: number;
  /** CLOCK_MONOTONIC ms (monoMs) when the producer sent it. */
  sentAt: number;
}

export interface Subject {
  /** As in the results: "notifier", "raw uWS", … */
  name: string;
  /** How the load generator subscribes (see loadgen/messages.ts). */
  mode: LoadMode;
  host: string;
  port: number;
  path: string;
  /** What a client presents (notifier with NOTIFIER_AUTH=jwt: tokens); absent: nothing. */
  auth?: ClientAuth;
  /** The process holding the WebSocket connections (RSS is read from its /proc status). */
  serverPid(): number;
  /** Every process of the subject by role (server, listener, redis, postgres), for CPU accounting. */
  processes(): Record<string, number[]>;
  /** Sends the items as one batch through the subject's input; resolves once the input accepted them. */
  send(items: BenchItem[]): Promise<void>;
  /** Replaces the WebSocket server process with a fresh one (same port), for a clean memory baseline. */
  restartServer(): Promise<void>;
  stop(): Promise<void>;
}

/** The payload of a benchmark notification (the same JSON for every subject). */
export function payloadOf(item: BenchItem): string {
  const tenant = item.tenant === undefined ? '' : `"tenant_id":${JSON.stringify(item.tenant)},`;
  const bucket = item.bucket === undefined ? '' : `"bucket":${item.bucket},`;
  return `{"entity_type":"execution","entity_id":${item.seq},"user_id":${item.userId ?? 'null'},${tenant}${bucket}"seq":${item.seq},"sent_at":${item.sentAt.toFixed(3)}}`;
}

/** The PostgreSQL channel every benchmark notification is sent on (one of the listener's defaults). */
export const BENCH_CHANNEL = 'execution_status_changed';

// Processes started by the peers, killed if the benchmark exits without stopping them.
const owned = new Set<ChildProcess>();
let hooked = false;
export function own(child: ChildProcess): void {
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of owned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

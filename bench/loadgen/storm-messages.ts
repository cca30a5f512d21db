import type { ClientAuth } from './tokens.js';

/**
 * What the reconnect-storm load generator's parent (storm-pool.ts) and its worker processes
 * (storm-worker.ts) say over IPC.
 */

/** Reconnect back-off: attempt k after a drop (k = 0 first) waits uniform [0, min(maxMs, firstMs · 2^k)). */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

export interface StormSpec {
  host: string;
  port: number;
  path: string;
  /** Source address of every connection of this worker (127.0.x.y: a port range of its own). */
  localAddress: string;
  /** Clients firstIndex … firstIndex + count - 1. */
  firstIndex: number;
  count: number;
  /** The one filter every client subscribes to (and resumes with). */
  filter: string;
  /** First connections in flight at once. */
  concurrency: number;
  /** One attempt: TCP connect + upgrade answer within this, else it is dropped and retried. */
  connectTimeoutMs: number;
  /** The first connection of a client must be subscribed within this (retries included). */
  openTimeoutMs: number;
  backoff: Backoff;
  /** Sequence numbers a client can record: 0 … capacity - 1 (larger ones count as beyond). */
  capacity: number;
  /** Tokens (tokens.ts, filter `all`), one per client, minted before the first connect; absent: anonymous. */
  auth?: ClientAuth;
}

export type ToStormWorker =
  | { t: 'open'; spec: StormSpec }
  /** From now on, each client's first drop starts its outage (the storm). */
  | { t: 'arm'; id: number }
  /** Missing and duplicated seqs among 0 … produced - 1, so far. */
  | { t: 'check'; id: number; produced: number }
  | { t: 'report'; id: number; produced: number }
  | { t: 'exit' };

/** Counts of a worker's clients, sent every 100 ms while they change. */
export interface StormProgress {
  /** Clients whose current connection is live (subscribed, resumed or reset). */
  live: number;
  /** Clients whose outage began (dropped after arm). */
  dropped: number;
  /** Clients whose outage ended (live again: resumed or reset). */
  back: number;
}

/** One client's outage, in Date.now() ms (0: did not happen). */
export interface Outage {
  droppedAt: number;
  /** Start of the attempt that succeeded (the back-off before it is the client's own wait). */
  attemptAt: number;
  /** Its `101 Switching Protocols` (through HAProxy, from a surviving edge). */
  upgradedAt: number;
  /** `welcome` on the connection that went live again. */
  welcomedAt: number;
  /** `resumed` (or `reset`) on that connection. */
  liveAt: number;
  /** Connection attempts during the outage. */
  attempts: number;
}

export interface Check {
  /** Seqs in 0 … produced - 1 a client never received, summed over clients. */
  missing: number;
  /** Extra receipts of a seq (a seq received 3 times counts 2), summed over clients. */
  duplicated: number;
}

export interface StormReport extends Check {
  clients: number;
  outages: Outage[];
  /** `resumed` answers, `reset` answers, and notifications replayed (sum of `replayed`). */
  resumed: number;
  resets: number;
  /** `reset` answers by reason (expired, epoch). */
  resetReasons: Record<string, number>;
  replayed: number;
  /** Receipts of a seq not greater than the one before on the same client. */
  outOfOrder: number;
  /** Receipts of a seq ≥ produced (none expected). */
  beyond: number;
  /** Drops after a client's outage had ended (a second disconnect in the storm). */
  extraDrops: number;
  /** Connection attempts after the first connects, by outcome. */
  attempts: number;
  /** Upgrade answers other than 101, by status code ("503", …). */
  refused: Record<string, number>;
  /** Socket errors by code (ECONNREFUSED, ECONNRESET, …), and "timeout" for attempts that timed out. */
  failures: Record<string, number>;
  /** Close codes of live connections ('none': the TCP connection just ended). */
  closeCodes: Record<string, number>;
  /** Clients live now, by edge node (the client_id prefix of their last welcome). */
  nodes: Record<string, number>;
  /** `error` frames from the edge (first few). */
  errors: string[];
}

export type FromStormWorker =
  | { t: 'opened'; ready: number; failed: number; errors: string[]; ms: number }
  | ({ t: 'progress' } & StormProgress)
  | { t: 'armed'; id: number }
  | ({ t: 'checked'; id: number } & Check)
  | ({ t: 'report'; id: number } & StormReport);

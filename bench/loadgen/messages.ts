/** What the load generator's parent (pool.ts) and its worker processes (worker.ts) say over IPC. */
import type { ClientAuth } from './tokens.js';

/**
 * How a client subscribes:
 * - notifier: send `{"type":"subscribe","filter":…}` per filter, wait for welcome + one ack each.
 * - raw: the filters go in the URL (`?topics=a,b`); wait for the server's one ready frame
 *   (raw uWS, ws + ioredis).
 * - socketio: Engine.IO 4 over WebSocket with `topics=a,b` in the query (socketio.ts): wait for
 *   the open packet, send `40`, ready at the `40{…}` reply; only `42[…]` frames count.
 * - sse: notifier's Server-Sent Events (`GET <path>?filter=…&token=…`, sse-client.ts): ready at
 *   the 200 answer's headers; only events with an `id:` (notifications) count.
 */
export type LoadMode = 'notifier' | 'raw' | 'socketio' | 'sse';

/** The filters of connection `i` (its index across every worker of one run). */
export type FilterSpec =
  /** Every connection subscribes `all`. */
  | { kind: 'all' }
  /** `user:<i>` plus `shared` (the same for every connection): a distinct set per connection. */
  | { kind: 'user'; shared: string[] }
  /**
   * `count` filters of connection i's own, each exactly `length` characters long:
   * `entity:doc:<i>-<j>-xxx…` (distinct within the connection and from every other's).
   */
  | { kind: 'many'; count: number; length: number }
  /** `user:<i % groups>`: `groups` sets of connections, each reached by the notifications of its user id. */
  | { kind: 'group'; groups: number }
  /**
   * `all` narrowed by one of `predicates` distinct payload predicates: connection i has predicate
   * k = i % predicates. equal: `{"seq":{"gte":-(k+1)}}`, true for every notification (the same
   * recipients as `all`, through `predicates` topics); selective: `{"bucket":{"eq":k}}`, matching
   * the notifications whose payload carries bucket k (seq % predicates).
   */
  | { kind: 'where'; predicates: number; variant: 'equal' | 'selective' };

export interface OpenSpec {
  host: string;
  port: number;
  path: string;
  /** Source address of every connection of this worker (127.0.0.x: one 28k port range each). */
  localAddress: string;
  /** Connections firstIndex … firstIndex + count - 1, those that `select` keeps. */
  firstIndex: number;
  count: number;
  /** sampled: only i % sampleEvery === 0 (a probe worker); unsampled: all others; all: every one. */
  select: 'all' | 'sampled' | 'unsampled';
  mode: LoadMode;
  filters: FilterSpec;
  /** Connection i is sampled (frames parsed for `sent_at`) when i % sampleEvery === 0; 0: none. */
  sampleEvery: number;
  /** Handshakes in flight at once. */
  concurrency: number;
  /** Give up on a connection not ready after this long. */
  connectTimeoutMs: number;
  /** Tokens (tokens.ts), one per connection, minted before the first connect; absent: anonymous. */
  auth?: ClientAuth;
  /** Every connection scoped to tenant `t<i % tenants>` (its token's scope). */
  tenants?: number;
}

export type ToWorker =
  | { t: 'open'; spec: OpenSpec }
  /** counts: also each connection's frames (index → frames), for a check of who got what. */
  | { t: 'report'; id: number; drain: boolean; counts?: boolean }
  | { t: 'exit' };

export interface WorkerReport {
  /** Data frames received after each connection was ready (acks excluded), summed. */
  frames: number;
  /** Connections ready and still open. */
  open: number;
  /** Connections that were ready and then closed, by close code ('none' when the TCP connection just ended). */
  closed: Record<string, number>;
  /** [latency ms, sent_at, ms since the envelope's timestamp] of sampled frames since the last drain (capped). */
  samples: [number, number, number][];
  samplesDropped: number;
  /** Frames on sampled connections whose `sent_at` could not be read. */
  unparsed: number;
  /** [connection index, data frames] of every connection that became ready, when asked for. */
  counts?: [number, number][];
}

export type FromWorker =
  /** ms: first connect → last ready (tokens are minted before, in mintMs). */
  | { t: 'opened'; ready: number; failed: number; errors: string[]; ms: number; mintMs: number; startedAt: number; endedAt: number }
  | { t: 'progress'; frames: number; open: number }
  | ({ t: 'report'; id: number } & WorkerReport);

export function filtersFor(spec: FilterSpec, i: number): string[] {
  switch (spec.kind) {
    case 'all':
      return ['all'];
    case 'user':
      return [`user:${i}`, ...spec.shared];
    case 'group':
      return [`user:${i % spec.groups}`];
    case 'many':
      return Array.from({ length: spec.count }, (_v, j) => `entity:doc:${i}-${j}-`.padEnd(spec.length, 'x'));
    case 'where':
      return ['all'];
  }
}

/** The `where` of connection i's subscriptions (undefined: none). */
export function whereFor(spec: FilterSpec, i: number): unknown {
  if (spec.kind !== 'where') return undefined;
  const k = i % spec.predicates;
  return spec.variant === 'equal' ? { seq: { gte: -(k + 1) } } : { bucket: { eq: k } };
}

/** Whether connection i is sampled for latency. */
export function isSampled(i: number, sampleEvery: number): boolean {
  return sampleEvery > 0 && i % sampleEvery === 0;
}

/** The connection indices a worker opens. */
export function indicesOf(spec: Pick<OpenSpec, 'firstIndex' | 'count' | 'select' | 'sampleEvery'>): number[] {
  const out: number[] = [];
  for (let i = spec.firstIndex; i < spec.firstIndex + spec.count; i++) {
    if (spec.select === 'all' || (spec.select === 'sampled') === isSampled(i, spec.sampleEvery)) out.push(i);
  }
  return out;
}

/**
 * A fleet of resilient WebSocket clients that connect THROUGH HAProxy and behave like a good
 * production client: subscribe once, record every notification, and on any disconnect reconnect
 * (through HAProxy again, small jittered back-off) and resume from the last offset seen:
 *
 *   → {"type":"resume","epoch":…,"offset":<last offset, else welcome's>,"filters":[…]}
 *   ← {"type":"resumed",offset,replayed} then live   |   {"type":"reset",reason,epoch,offset} then live
 *
 * A reset is counted and the client carries on from the offset it names. Close codes seen
 * (1012 edge shutting down, 4003 resync, 1006 killed, …) are recorded per client.
 */
import WebSocket from 'ws';
import { mintToken } from '../helpers/tokens.js';
import type { Harness } from './harness.js';

export type Message = Record<string, unknown>;

/** Where a fleet client puts its token: `?token=`, `Authorization: Bearer`, or `Sec-WebSocket-Protocol`. */
export type TokenCarrier = 'query' | 'authorization' | 'protocol';
export const TOKEN_CARRIERS: readonly TokenCarrier[] = ['query', 'authorization', 'protocol'];

/**
 * The roles the harness configures on its edges (NOTIFIER_AUTH_ROLES) under NOTIFIER_AUTH=jwt:
 * `operator` may subscribe to anything, `reader` to any filter but `all`.
 */
export const FLEET_AUTH_ROLES: Record<string, string[]> = {
  operator: ['all'],
  reader: ['entity_type:*', 'notification_type:*', 'entity:*'],
};

export interface FleetCredentials {
  token: string;
  carrier: TokenCarrier;
  /** The token's subject: welcome's user_id. */
  sub: string;
}

/** A pattern allowing `filter`: `all` itself, else its last segment replaced with `*`. */
function patternFor(filter: string): string {
  if (filter === 'all') return 'all';
  if (filter.startsWith('entity_type:')) return 'entity_type:*';
  return `${filter.slice(0, filter.lastIndexOf(':') + 1)}*`;
}

/**
 * A token for fleet client `i` allowing exactly what its filters need, its claim in one of three
 * shapes (the filters themselves, patterns, roles), and a carrier: together they vary, so every
 * claim shape goes through every carrier.
 */
export async function fleetCredentials(i: number, filters: readonly string[]): Promise<FleetCredentials> {
  const sub = `fleet-${i}`;
  const carrier = TOKEN_CARRIERS[i % TOKEN_CARRIERS.length] as TokenCarrier;
  const shape = Math.floor(i / TOKEN_CARRIERS.length) % 3;
  const claim =
    shape === 0
      ? { filters: [...filters] }
      : shape === 1
        ? { filters: [...new Set(filters.map(patternFor))] }
        : { roles: [filters.includes('all') ? 'operator' : 'reader'] };
  return { token: await mintToken({ sub, claim }), carrier, sub };
}

export interface FleetOptions {
  /** Per attempt: TCP + upgrade + welcome must complete within this (default 5 s). */
  connectTimeoutMs?: number;
  /** After welcome, `resumed`/`reset` (or every `subscribed`) must come within this (default 15 s). */
  answerTimeoutMs?: number;
  /** Back-off cap between reconnect attempts (default 1 s; jittered ×0.5–1.5). */
  maxBackoffMs?: number;
  /** Initial connect of the whole fleet (default 20 s). */
  startTimeoutMs?: number;
  /** The sequence number of a notification (default: payload.seq, as test/helpers/producer.ts writes). */
  seqOf?: (n: Message) => number;
  /**
   * Client `i`'s token and carrier. Default: fleetCredentials when the harness's edges verify
   * tokens (auth 'jwt'), none when they are anonymous.
   */
  credentials?: (i: number, filters: readonly string[]) => Promise<FleetCredentials | undefined>;
}

export interface ClientReport {
  client: number;
  filters: string[];
  /** Number of notifications the client should have got. */
  expected: number;
  /** Number of notifications it got (duplicates included). */
  received: number;
  missing: number[];
  duplicated: number[];
  /** Positions where a seq was not greater than the one before. */
  outOfOrder: number;
  /** Seqs it got but should not have (its filters do not match). */
  unexpected: number[];
  resets: number;
  /**
   * Expected seqs not received that come after the first seq received after the last reset
   * (all of `missing` when there was no reset). After a reset a client is owed everything
   * from there on; this is the check for "reset, then everything after it".
   */
  missingAfterLastReset: number[];
  /** Connections after the first one that reached welcome. */
  reconnects: number;
  closeCodes: number[];
}

export interface FleetReport {
  clients: ClientReport[];
  expected: number;
  received: number;
  missing: number;
  /** Sum of ClientReport.missingAfterLastReset. */
  missingAfterReset: number;
  duplicated: number;
  outOfOrder: number;
  unexpected: number;
  resets: number;
  reconnects: number;
  /** 0 missing, 0 duplicated, 0 out of order, 0 unexpected for every client. */
  ok: boolean;
  /** One line: `<label>: sent=… expected=… received=… missing=… duplicated=… …`. */
  line(label: string, sent: number): string;
}

export interface Fleet {
  clients: FleetClient[];
  /**
   * Resolves true once every client has every seq of `expectedFor(client)`, false at the timeout.
   * With `sinceLastReset`, a client that was reset is only owed the seqs after the first one it
   * received after its last reset (and must have received one).
   */
  waitForSeqs(expectedFor: (c: FleetClient) => number[], timeoutMs?: number, opts?: { sinceLastReset?: boolean }): Promise<boolean>;
  /** Resolves true once every client is live (after a reconnect: resumed or reset), false at the timeout. */
  waitAllLive(timeoutMs?: number): Promise<boolean>;
  report(expectedFor: (c: FleetClient) => number[]): FleetReport;
  /** Edge node id → number of clients connected to it now. */
  spread(): Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Subscribes sent per second on a first connection: edges close a connection that sends more
 * than NOTIFIER_MAX_INBOUND_PER_SECOND (default 50) messages in a second, with 4002.
 */
const SUBSCRIBES_PER_SECOND = 40;

const defaultSeqOf = (n: Message) => Number((n['payload'] as { seq?: unknown } | undefined)?.seq);

export class FleetClient {
  readonly notifications: Message[] = [];
  readonly seqs: number[] = [];
  readonly closeCodes: number[] = [];
  /** Each close (code, wall-clock ms) and each welcome's wall-clock ms, for timing a drain. */
  readonly closeLog: { code: number; at: number }[] = [];
  readonly welcomeTimes: number[] = [];
  /** Edge node of each connection that reached welcome (the client_id prefix). */
  readonly nodes: string[] = [];
  /** welcome's user_id on each connection (null when anonymous). */
  readonly userIds: unknown[] = [];
  readonly errors: Message[] = [];
  /** Each reset received: its reason, epoch and offset, and how many notifications had arrived before it. */
  readonly resetLog: { reason: unknown; epoch: unknown; offset: unknown; at: number }[] = [];
  resets = 0;
  resumes = 0;
  replayed = 0;
  epoch: string | undefined;
  offset: string | undefined;
  live = false;
  private readonly unique = new Set<number>();
  private ws: WebSocket | undefined;
  private stopped = false;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private phaseTimer: NodeJS.Timeout | undefined;
  private pendingAcks = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private firstLive: { resolve: () => void; reject: (err: Error) => void; promise: Promise<void> };

  constructor(
    readonly index: number,
    readonly url: string,
    readonly filters: string[],
    private readonly opts: Required<Omit<FleetOptions, 'credentials'>>,
    /** Sent on every connection attempt, in its carrier; none: anonymous. */
    readonly credentials?: FleetCredentials,
  ) {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined);
    this.firstLive = { resolve, reject, promise };
  }

  /** The edge node this client is (or was last) connected to. */
  get node(): string | undefined {
    return this.nodes.at(-1);
  }

  get connects(): number {
    return this.nodes.length;
  }

  /** Connects (retrying) until subscribed to every filter; rejects after `timeoutMs`. */
  async start(timeoutMs: number): Promise<void> {
    this.connect();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`fleet client ${this.index} not live within ${timeoutMs} ms (close codes ${JSON.stringify(this.closeCodes)}, errors ${JSON.stringify(this.errors)})`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.firstLive.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves true when `pred` holds (checked on every message and state change), false at the timeout. */
  waitUntil(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Has every seq in `expected` (a Set for speed). */
  hasAll(expected: ReadonlySet<number>): boolean {
    if (this.unique.size < expected.size) return false;
    for (const s of expected) if (!this.unique.has(s)) return false;
    return true;
  }

  /** Like hasAll, but after a reset only the seqs after the first one received since the last reset count. */
  hasAllSinceLastReset(expected: ReadonlySet<number>): boolean {
    const lastReset = this.resetLog.at(-1);
    if (lastReset === undefined) return this.hasAll(expected);
    const firstAfter = this.seqs[lastReset.at];
    if (firstAfter === undefined) return false;
    for (const s of expected) if (s > firstAfter && !this.unique.has(s)) return false;
    return true;
  }

  report(expectedSeqs: number[]): ClientReport {
    const expected = new Set(expectedSeqs);
    const counts = new Map<number, number>();
    for (const s of this.seqs) counts.set(s, (counts.get(s) ?? 0) + 1);
    let outOfOrder = 0;
    for (let i = 1; i < this.seqs.length; i++) if ((this.seqs[i] ?? 0) <= (this.seqs[i - 1] ?? 0)) outOfOrder += 1;
    const missing = [...expected].filter((s) => !counts.has(s));
    const lastReset = this.resetLog.at(-1);
    const firstAfter = lastReset === undefined ? -Infinity : (this.seqs[lastReset.at] ?? Infinity);
    return {
      client: this.index,
      filters: this.filters,
      expected: expected.size,
      received: this.seqs.length,
      missing,
      missingAfterLastReset: missing.filter((s) => s > firstAfter),
      duplicated: [...counts].filter(([, n]) => n > 1).map(([s]) => s),
      outOfOrder,
      unexpected: [...counts.keys()].filter((s) => !expected.has(s)),
      resets: this.resets,
      reconnects: Math.max(0, this.connects - 1),
      closeCodes: [...this.closeCodes],
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.phaseTimer);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  private connect(): void {
    if (this.stopped) return;
    this.live = false;
    this.pendingAcks.clear();
    const { url, protocols, headers } = this.handshake();
    const ws = new WebSocket(url, protocols, { handshakeTimeout: this.opts.connectTimeoutMs, headers });
    this.ws = ws;
    this.arm(ws, this.opts.connectTimeoutMs);
    ws.on('message', (data) => {
      if (ws !== this.ws) return;
      let m: Message;
      try {
        m = JSON.parse(data.toString()) as Message;
      } catch {
        this.errors.push({ type: 'client-side', message: `not JSON: ${data.toString().slice(0, 100)}` });
        return;
      }
      this.onMessage(ws, m);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => this.onClose(ws, code));
  }

  /** The URL, subprotocols and headers of an upgrade: the token in this client's carrier. */
  private handshake(): { url: string; protocols: string[]; headers: Record<string, string> } {
    const c = this.credentials;
    if (c === undefined) return { url: this.url, protocols: [], headers: {} };
    switch (c.carrier) {
      case 'query':
        return { url: `${this.url}?token=${encodeURIComponent(c.token)}`, protocols: [], headers: {} };
      case 'authorization':
        return { url: this.url, protocols: [], headers: { authorization: `Bearer ${c.token}` } };
      case 'protocol':
        return { url: this.url, protocols: ['notifier.v1', `bearer.${c.token}`], headers: {} };
    }
  }

  /** Terminates `ws` unless the current phase completes within `ms`. */
  private arm(ws: WebSocket, ms: number): void {
    clearTimeout(this.phaseTimer);
    this.phaseTimer = setTimeout(() => {
      if (ws === this.ws && !this.live) ws.terminate();
    }, ms);
  }

  private onMessage(ws: WebSocket, m: Message): void {
    const type = m['type'];
    if (type === undefined) {
      this.notifications.push(m);
      const seq = this.opts.seqOf(m);
      this.seqs.push(seq);
      this.unique.add(seq);
      if (typeof m['offset'] === 'string') this.offset = m['offset'];
      this.changed();
      return;
    }
    switch (type) {
      case 'welcome': {
        this.nodes.push(String(m['client_id']).split('-')[0] ?? '?');
        this.userIds.push(m['user_id']);
        this.welcomeTimes.push(Date.now());
        this.arm(ws, this.opts.answerTimeoutMs);
        if (this.epoch === undefined) {
          // First connection (or no epoch known yet): subscribe; resume from welcome's offset later.
          if (typeof m['epoch'] === 'string' && m['epoch'] !== '') this.epoch = m['epoch'];
          this.offset = typeof m['offset'] === 'string' ? m['offset'] : '0-0';
          for (const f of this.filters) this.pendingAcks.add(f);
          this.sendSubscribes(ws, 0);
        } else {
          ws.send(JSON.stringify({ type: 'resume', epoch: this.epoch, offset: this.offset ?? '0-0', filters: this.filters }));
        }
        break;
      }
      case 'subscribed':
        this.pendingAcks.delete(String(m['filter']));
        if (this.pendingAcks.size === 0 && !this.live) this.goLive();
        break;
      case 'resumed':
        this.resumes += 1;
        this.replayed += Number(m['replayed'] ?? 0);
        if (typeof m['offset'] === 'string') this.offset = m['offset'];
        this.goLive();
        break;
      case 'reset':
        this.resets += 1;
        this.resetLog.push({ reason: m['reason'], epoch: m['epoch'], offset: m['offset'], at: this.seqs.length });
        if (typeof m['epoch'] === 'string' && m['epoch'] !== '') this.epoch = m['epoch'];
        if (typeof m['offset'] === 'string') this.offset = m['offset'];
        this.goLive();
        break;
      case 'error':
        this.errors.push(m);
        if (this.pendingAcks.size > 0 && (m['code'] === 'invalid_filter' || m['code'] === 'too_many_subscriptions')) {
          // The initial subscribe can never succeed (the filters are the test's): fail now, do not retry.
          this.stopped = true;
          this.firstLive.reject(new Error(`fleet client ${this.index}: the edge rejected its filters (${this.filters.length} of them): ${JSON.stringify(m)}`));
          ws.terminate();
          return;
        }
        // An error before going live (e.g. a rejected resume): drop this connection and retry.
        if (!this.live) ws.terminate();
        break;
      default:
        break;
    }
  }

  /** Sends the subscribes from `from` on, SUBSCRIBES_PER_SECOND at a time, a little over a second apart. */
  private sendSubscribes(ws: WebSocket, from: number): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    const to = Math.min(this.filters.length, from + SUBSCRIBES_PER_SECOND);
    for (const f of this.filters.slice(from, to)) ws.send(JSON.stringify({ type: 'subscribe', filter: f }));
    if (to < this.filters.length) setTimeout(() => this.sendSubscribes(ws, to), 1100);
  }

  private goLive(): void {
    clearTimeout(this.phaseTimer);
    this.live = true;
    this.failures = 0;
    this.firstLive.resolve();
    this.changed();
  }

  private onClose(ws: WebSocket, code: number): void {
    if (ws !== this.ws) return;
    clearTimeout(this.phaseTimer);
    this.closeCodes.push(code);
    this.closeLog.push({ code, at: Date.now() });
    this.live = false;
    this.changed();
    if (this.stopped) return;
    this.failures += 1;
    const base = Math.min(this.opts.maxBackoffMs, 50 * 2 ** (this.failures - 1));
    const delay = Math.round(base * (0.5 + Math.random()));
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}

/** Starts `n` clients through HAProxy (`harness.lb.url`); resolves once every one is subscribed. */
export async function startFleet(
  harness: Pick<Harness, 'lb'> & Partial<Pick<Harness, 'auth'>>,
  n: number,
  filtersFor: (i: number) => string[],
  options: FleetOptions = {},
): Promise<Fleet> {
  const credentialsFor = options.credentials ?? (harness.auth === 'jwt' ? fleetCredentials : async () => undefined);
  const opts: Required<Omit<FleetOptions, 'credentials'>> = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    answerTimeoutMs: options.answerTimeoutMs ?? 15_000,
    maxBackoffMs: options.maxBackoffMs ?? 1000,
    startTimeoutMs: options.startTimeoutMs ?? 20_000,
    seqOf: options.seqOf ?? defaultSeqOf,
  };
  const filters = Array.from({ length: n }, (_, i) => filtersFor(i));
  const credentials = await Promise.all(filters.map((f, i) => credentialsFor(i, f)));
  const clients = filters.map((f, i) => new FleetClient(i, harness.lb.url, f, opts, credentials[i]));
  const fleet: Fleet = {
    clients,
    async waitForSeqs(expectedFor, timeoutMs = 30_000, waitOpts = {}) {
      const deadline = Date.now() + timeoutMs;
      const results = await Promise.all(
        clients.map((c) => {
          const expected = new Set(expectedFor(c));
          const done = waitOpts.sinceLastReset ? () => c.hasAllSinceLastReset(expected) : () => c.hasAll(expected);
          return c.waitUntil(done, Math.max(0, deadline - Date.now()));
        }),
      );
      return results.every(Boolean);
    },
    async waitAllLive(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      const results = await Promise.all(clients.map((c) => c.waitUntil(() => c.live, Math.max(0, deadline - Date.now()))));
      return results.every(Boolean);
    },
    report(expectedFor) {
      const reports = clients.map((c) => c.report(expectedFor(c)));
      const sum = (f: (r: ClientReport) => number) => reports.reduce((a, r) => a + f(r), 0);
      const totals = {
        expected: sum((r) => r.expected),
        received: sum((r) => r.received),
        missing: sum((r) => r.missing.length),
        missingAfterReset: sum((r) => r.missingAfterLastReset.length),
        duplicated: sum((r) => r.duplicated.length),
        outOfOrder: sum((r) => r.outOfOrder),
        unexpected: sum((r) => r.unexpected.length),
        resets: sum((r) => r.resets),
        reconnects: sum((r) => r.reconnects),
      };
      return {
        clients: reports,
        ...totals,
        ok: totals.missing === 0 && totals.duplicated === 0 && totals.outOfOrder === 0 && totals.unexpected === 0,
        line: (label, sent) =>
          `${label}: sent=${sent} clients=${clients.length} expected=${totals.expected} received=${totals.received} ` +
          `missing=${totals.missing}${totals.resets > 0 ? ` (after last reset ${totals.missingAfterReset})` : ''} duplicated=${totals.duplicated} outOfOrder=${totals.outOfOrder} ` +
          `unexpected=${totals.unexpected} resets=${totals.resets} reconnects=${totals.reconnects}`,
      };
    },
    spread() {
      const m = new Map<string, number>();
      for (const c of clients) if (c.live && c.node) m.set(c.node, (m.get(c.node) ?? 0) + 1);
      return m;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.stop()));
    },
  };
  try {
    await Promise.all(clients.map((c) => c.start(opts.startTimeoutMs)));
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  return fleet;
}

/**
 * The seqs 0..count-1 that `filters` match, for notifications written by test/helpers/producer.ts
 * (`entity_type` = entityType, `entity_id` = seq, channel → notification_type; no user).
 */
export function expectedSeqs(filters: readonly string[], count: number, entityType: string, channel = 'seq_event'): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const keys = ['all', `notification_type:${channel}`, `entity_type:${entityType}`, `entity:${entityType}:${i}`];
    if (keys.some((k) => filters.includes(k))) out.push(i);
  }
  return out;
}

/**
 * Mixed, overlapping filters for client `i` of a run of `count` notifications written by
 * test/helpers/producer.ts (entity_type "seq"): a notification matching several of a client's
 * filters must still arrive once. 25 single-entity filters at most (under the per-connection limit).
 */
export function mixedFilters(i: number, count: number): string[] {
  switch (i % 5) {
    case 0:
      return ['all'];
    case 1:
      return ['entity_type:seq'];
    case 2:
      return ['all', 'entity_type:seq', `entity:seq:${i}`];
    case 3:
      return ['notification_type:seq_event', 'entity_type:other'];
    default: {
      const stride = Math.max(1, Math.floor(count / 25));
      return [...Array.from({ length: Math.min(25, count) }, (_, k) => `entity:seq:${k * stride + (i % stride)}`), 'entity_type:other'];
    }
  }
}

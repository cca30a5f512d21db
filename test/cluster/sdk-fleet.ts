/**
 * A fleet of SDK clients (`NotifierClient` from src/client, in Node with `ws`'s WebSocket) connected
 * through HAProxy: each with a fresh token per connect (fleet.ts's fleetCredentials, minted anew
 * for every call), one handler per filter recording what it gets, and its `state`, `reset` and
 * `error` events. The SDK does the reconnecting and resuming; the fleet only watches.
 *
 * Each socket the SDK opens is tapped (a `ws` subclass passed as `WebSocket`): the tap reads the
 * same frames the SDK reads, to know which edge a connection reached, when it is subscribed or
 * resumed (the SDK has no event for either), how many notifications each connection carried, and
 * its close code. The tap never sends anything.
 */
import WebSocket from 'ws';
import { NotifierClient, type ClientError, type Notification, type ResetEvent } from '../../src/client/index.js';
import { fleetCredentials } from './fleet.js';

/** One socket the SDK opened, as seen on the wire. */
export interface TappedConnection {
  openedAt: number;
  /** The edge node (client_id prefix) once welcomed. */
  node?: string;
  userId?: unknown;
  subscribed: Set<string>;
  /** `replayed` of the `resumed` answer. */
  resumed?: number;
  reset?: Record<string, unknown>;
  /** Notification frames this connection carried (replayed and live, before the SDK's dedup). */
  frames: number;
  closeCode?: number;
  closedAt?: number;
}

export interface SdkClientOptions {
  reconnect?: { minMs?: number; maxMs?: number };
}

export class SdkClient {
  readonly client: NotifierClient;
  /** What each filter's handler received, in arrival order. */
  readonly received = new Map<string, Notification[]>();
  readonly resets: ResetEvent[] = [];
  readonly errors: ClientError[] = [];
  /** Each state change, with its close code: 'connecting:1012', 'connected', … */
  readonly states: string[] = [];
  readonly connections: TappedConnection[] = [];
  /** token() calls: one per connect (and per refresh, which a 1 h token never needs here). */
  tokens = 0;

  constructor(
    readonly index: number,
    url: string,
    readonly filters: string[],
    options: SdkClientOptions = {},
  ) {
    const connections = this.connections;
    class TappedWebSocket extends WebSocket {
      constructor(address: string, protocols: string[]) {
        super(address, protocols);
        const conn: TappedConnection = { openedAt: Date.now(), subscribed: new Set(), frames: 0 };
        connections.push(conn);
        // Registered before the SDK sets onmessage: sees every frame first, changes none.
        this.on('message', (data) => {
          let m: Record<string, unknown>;
          try {
            m = JSON.parse(String(data)) as Record<string, unknown>;
          } catch {
            return;
          }
          if (typeof m['notification_type'] === 'string') conn.frames += 1;
          else if (m['type'] === 'welcome') {
            conn.node = String(m['client_id']).split('-')[0];
            conn.userId = m['user_id'];
          } else if (m['type'] === 'subscribed') conn.subscribed.add(String(m['filter']));
          else if (m['type'] === 'resumed') conn.resumed = Number(m['replayed'] ?? 0);
          else if (m['type'] === 'reset') conn.reset = m;
        });
        this.on('close', (code) => {
          conn.closeCode = code;
          conn.closedAt = Date.now();
        });
      }
    }
    const sub = `fleet-${index}`;
    this.client = new NotifierClient({
      url,
      WebSocket: TappedWebSocket,
      token: async () => {
        this.tokens += 1;
        const c = await fleetCredentials(index, filters);
        if (c.sub !== sub) throw new Error(`fleetCredentials gave ${c.sub} for client ${index}`);
        return c.token;
      },
      ...(options.reconnect ? { reconnect: options.reconnect } : {}),
    });
    this.client.on('state', (s, info) => this.states.push(info ? `${s}:${info.code}` : s));
    this.client.on('reset', (r) => this.resets.push(r));
    this.client.on('error', (e) => this.errors.push(e));
    for (const f of filters) {
      const got: Notification[] = [];
      this.received.set(f, got);
      this.client.subscribe(f, (n) => got.push(n));
    }
  }

  get connection(): TappedConnection | undefined {
    return this.connections.at(-1);
  }

  /** The edge node of the current (or last) connection. */
  get node(): string | undefined {
    return this.connection?.node;
  }

  /** Connected, and the edge answered the subscribes (first connection) or the resume. */
  get live(): boolean {
    const c = this.connection;
    if (!c || c.closeCode !== undefined || c.node === undefined || this.client.state !== 'connected') return false;
    return c.resumed !== undefined || c.reset !== undefined || this.filters.every((f) => c.subscribed.has(f));
  }

  /** Close codes of every connection that ended. */
  get closeCodes(): number[] {
    return this.connections.flatMap((c) => (c.closeCode === undefined ? [] : [c.closeCode]));
  }

  /** Connections that reached welcome after the first. */
  get reconnects(): number {
    return Math.max(0, this.connections.filter((c) => c.node !== undefined).length - 1);
  }
}

export interface SdkFleet {
  clients: SdkClient[];
  /** Polls until `done(client)` holds for every client; false at the deadline. */
  waitAll(done: (c: SdkClient) => boolean, timeoutMs: number): Promise<boolean>;
  /** Edge node → clients live on it now. */
  spread(): Map<string, number>;
  /** Closes every client (no reconnect) and waits for their sockets to close. */
  stop(): Promise<void>;
}

/** Starts `n` SDK clients on `url` (HAProxy's); resolves once every one is live. */
export async function startSdkFleet(url: string, n: number, filtersFor: (i: number) => string[], options: SdkClientOptions & { startTimeoutMs?: number } = {}): Promise<SdkFleet> {
  const clients = Array.from({ length: n }, (_, i) => new SdkClient(i, url, filtersFor(i), options));
  const waitAll = async (done: (c: SdkClient) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!clients.every(done)) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
    return true;
  };
  const fleet: SdkFleet = {
    clients,
    waitAll,
    spread() {
      const m = new Map<string, number>();
      for (const c of clients) if (c.live && c.node) m.set(c.node, (m.get(c.node) ?? 0) + 1);
      return m;
    },
    async stop() {
      for (const c of clients) c.client.close();
      // close() closes the socket; the tap records its end.
      await waitAll((c) => c.connections.every((k) => k.closeCode !== undefined), 3000);
    },
  };
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  if (!(await waitAll((c) => c.live, timeoutMs))) {
    const late = clients.filter((c) => !c.live).map((c) => ({ client: c.index, states: c.states, errors: c.errors, closes: c.closeCodes }));
    await fleet.stop();
    throw new Error(`SDK clients not live within ${timeoutMs} ms: ${JSON.stringify(late)}`);
  }
  return fleet;
}

/**
 * A test WebSocket client speaking the notifier protocol: records every message and lets a
 * test await the next one that matches, with a timeout (no sleeps).
 */
import { request } from 'node:http';
import WebSocket from 'ws';

export type Message = Record<string, unknown>;

export class TestClient {
  readonly messages: Message[] = [];
  /** Arrival time (Date.now()) of each entry of `messages`. */
  readonly arrivals: number[] = [];
  closeCode: number | undefined;
  private waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  private closedWaiters: ((code: number) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Message;
      this.messages.push(m);
      this.arrivals.push(Date.now());
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(m)) return true;
        w.resolve(m);
        return false;
      });
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.closedWaiters) w(code);
    });
    ws.on('error', () => undefined);
  }

  /** Opens and waits for welcome. `protocols` are offered subprotocols; `headers` extra request headers (Authorization…). */
  static async connect(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<TestClient> {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {} });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await client.first((m) => m['type'] === 'welcome');
    return client;
  }

  get welcome(): Message {
    return this.messages.find((m) => m['type'] === 'welcome') ?? {};
  }

  /** Notifications received so far (messages without `type`). */
  get notifications(): Message[] {
    return this.messages.filter((m) => !('type' in m));
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  async subscribe(filter: string): Promise<void> {
    this.send({ type: 'subscribe', filter });
    await this.next((m) => m['type'] === 'subscribed' && m['filter'] === filter);
  }

  /** Sends resume and waits for its outcome: `resumed` or `reset`. */
  async resume(epoch: string, offset: string, filters: string[], timeoutMs = 15_000): Promise<Message> {
    this.send({ type: 'resume', epoch, offset, filters });
    return this.next((m) => m['type'] === 'resumed' || m['type'] === 'reset' || m['type'] === 'error', timeoutMs);
  }

  /** The offset of the last notification received, or the one in welcome. */
  get lastOffset(): string {
    const last = this.notifications.at(-1);
    return String(last?.['offset'] ?? this.welcome['offset']);
  }

  async unsubscribe(filter: string): Promise<void> {
    this.send({ type: 'unsubscribe', filter });
    await this.next((m) => m['type'] === 'unsubscribed' && m['filter'] === filter);
  }

  /** The first message matching `match`, already received or future. */
  first(match: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    const seen = this.messages.find(match);
    return seen ? Promise.resolve(seen) : this.next(match, timeoutMs);
  }

  /** The next message received after this call that matches `match`. */
  next(match: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    const seen = new Set<Message>();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`)), timeoutMs);
      const done = (m: Message) => {
        clearTimeout(timer);
        resolve(m);
      };
      for (const m of this.messages) seen.add(m);
      this.waiters.push({ match: (m) => !seen.has(m) && match(m), resolve: done });
    });
  }

  /** Waits until `count` notifications have arrived in total. */
  async waitForNotifications(count: number, timeoutMs = 15_000): Promise<Message[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.notifications.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} notifications, got ${this.notifications.length} within ${timeoutMs} ms`);
      await this.next((m) => !('type' in m), left).catch(() => undefined);
    }
    return this.notifications;
  }

  closed(timeoutMs = 10_000): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection did not close')), timeoutMs);
      this.closedWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** The HTTP status an upgrade gets: 101 when a socket opened (closed at once). */
export async function upgradeStatus(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<number> {
  const protocol: Record<string, string> = opts.protocols?.length ? { 'sec-websocket-protocol': opts.protocols.join(', ') } : {};
  return (await upgradeAnswer(url, { ...opts.headers, ...protocol })).status;
}

/** The raw HTTP answer to an upgrade request: status, body and headers, and whether it upgraded. */
export function upgradeAnswer(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; upgraded: boolean; headers: Record<string, unknown> }> {
  const u = new URL(url.replace('ws://', 'http://'));
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '', upgraded: true, headers: res.headers });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, upgraded: false, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

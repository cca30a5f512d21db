/**
 * One WebSocket client of the notifier protocol for the source and failover scenarios: connects
 * to an edge, subscribes, and counts notification frames as cheaply as it can (no JSON parsing
 * unless asked), with the arrival time of the last one.
 */
import WebSocket from 'ws';

const CONTROL_PREFIX = Buffer.from('{"type"');

export interface CountingClientOptions {
  url: string;
  filters: string[];
  /** Called for every notification frame (text) with its arrival time (Date.now()). */
  onNotification?: (text: string, at: number) => void;
  timeoutMs?: number;
  /** A token for an edge with NOTIFIER_AUTH=jwt (sent as `Authorization: Bearer`). */
  token?: string;
}

export class CountingClient {
  /** Notification frames received. */
  count = 0;
  /** Arrival (Date.now()) of the last notification frame. */
  lastAt = 0;
  closed = false;
  private readonly control: Record<string, unknown>[] = [];
  private waiters: { match: (m: Record<string, unknown>) => boolean; resolve: () => void }[] = [];

  private constructor(private readonly ws: WebSocket, private readonly opts: CountingClientOptions) {
    ws.on('message', (data: Buffer) => {
      if (data.length >= CONTROL_PREFIX.length && data.subarray(0, CONTROL_PREFIX.length).equals(CONTROL_PREFIX)) {
        const m = JSON.parse(data.toString()) as Record<string, unknown>;
        this.control.push(m);
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(m)) return true;
          w.resolve();
          return false;
        });
        return;
      }
      const at = Date.now();
      this.count += 1;
      this.lastAt = at;
      this.opts.onNotification?.(data.toString(), at);
    });
    ws.on('close', () => (this.closed = true));
    ws.on('error', () => undefined);
  }

  static async connect(opts: CountingClientOptions): Promise<CountingClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const ws = new WebSocket(opts.url, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      ...(opts.token !== undefined && { headers: { authorization: `Bearer ${opts.token}` } }),
    });
    const client = new CountingClient(ws, opts);
    const welcome = client.wait((m) => m['type'] === 'welcome', timeoutMs);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await welcome;
    for (const filter of opts.filters) {
      const ack = client.wait((m) => m['type'] === 'subscribed' && m['filter'] === filter, timeoutMs);
      ws.send(JSON.stringify({ type: 'subscribe', filter }));
      await ack;
    }
    return client;
  }

  /** Control messages (welcome, subscribed, …) received so far. */
  get controlMessages(): readonly Record<string, unknown>[] {
    return this.control;
  }

  /** Resolves when `count` reaches `n`, or when no notification arrived for `idleMs`; returns whether it reached `n`. */
  async waitForCount(n: number, idleMs: number, maxMs: number): Promise<boolean> {
    const deadline = Date.now() + maxMs;
    let lastCount = this.count;
    let lastProgress = Date.now();
    while (this.count < n) {
      const now = Date.now();
      if (this.count !== lastCount) {
        lastCount = this.count;
        lastProgress = now;
      }
      if (now - lastProgress > idleMs || now > deadline || this.closed) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  close(): void {
    this.ws.terminate();
  }

  private wait(match: (m: Record<string, unknown>) => boolean, timeoutMs: number): Promise<void> {
    if (this.control.some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching control message within ${timeoutMs} ms (got ${JSON.stringify(this.control.slice(-3))})`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

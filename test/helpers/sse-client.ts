/**
 * A test reader of an edge's Server-Sent Events stream (GET /sse) over raw node:http, so a test
 * can stop reading (pause the socket) as a slow client would. Parses the stream as the
 * EventSource spec does (fields, comments, the last event id kept across events) and lets a test
 * await an event with a timeout (no sleeps).
 */
import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

export interface SseEvent {
  event: string;
  /** The last event id as of this event (what an EventSource would send on reconnect). */
  id: string;
  data: string;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** The `retry:` field, when sent. */
  retry: number | undefined;
  lastEventId = '';
  ended = false;
  private buffer = '';
  private pending = { event: '', data: [] as string[] };
  private waiters: (() => void)[] = [];

  private constructor(
    readonly res: IncomingMessage,
    readonly socket: Socket,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.feed(chunk));
    const end = () => {
      this.ended = true;
      this.wake();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', () => undefined);
  }

  /** Opens the stream (any status: a refused one's JSON body is `body()`). */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => resolve(new SseReader(res, req.socket!)));
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** A refused request's JSON answer. */
  async body(): Promise<Record<string, unknown>> {
    await this.until(() => this.ended, 5000, 'the answer to end');
    return JSON.parse(this.buffer) as Record<string, unknown>;
  }

  /** Notifications (events without a type), parsed. */
  get notifications(): Record<string, unknown>[] {
    return this.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }

  /** Control events of one type, parsed. */
  controls(type: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.event === type).map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }

  async waitForEvent(type: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    await this.until(() => this.controls(type).length > 0, timeoutMs, `event: ${type}`);
    return this.controls(type)[0]!;
  }

  async waitForNotifications(n: number, timeoutMs = 5000): Promise<Record<string, unknown>[]> {
    await this.until(() => this.notifications.length >= n, timeoutMs, `${n} notifications (have ${this.notifications.length})`);
    return this.notifications;
  }

  /** Resolves when `check` holds (re-checked on every event and at the end), rejects after timeoutMs. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.res.destroy();
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private feed(chunk: string): void {
    if (this.status !== 200) {
      this.buffer += chunk;
      return;
    }
    this.buffer += chunk;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) this.line(line);
    this.wake();
  }

  private line(line: string): void {
    if (line === '') {
      if (this.pending.data.length > 0) this.events.push({ event: this.pending.event || 'message', id: this.lastEventId, data: this.pending.data.join('\n') });
      this.pending = { event: '', data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.pending.event = value;
    else if (field === 'data') this.pending.data.push(value);
    else if (field === 'id') this.lastEventId = value;
    else if (field === 'retry') this.retry = Number(value);
  }
}

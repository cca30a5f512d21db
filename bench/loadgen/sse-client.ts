/**
 * A load-generator client of notifier's Server-Sent Events endpoint, on a raw `net` socket (as
 * the WebSocket clients of worker.ts): `GET <path>?filter=…&token=…`, ready at the 200 answer's
 * headers, then a streaming parser that counts events. Notification events are
 * `id: <epoch>/<offset>\ndata: <json>\n\n`; comments (`: hb`), `retry:` and control events
 * (`event: welcome`…) are not deliveries. The body may be chunked (uWS' res.write) or not; chunk framing
 * is removed before the event boundaries (`\n\n`) are looked for, so an event split across chunks
 * or reads still counts once. Only sampled connections keep an event's bytes (for `sent_at`).
 *
 * Imports: node:net only (the worker passes its counters in as hooks).
 */
import net from 'node:net';

/** What the worker counts (shared with its WebSocket connections). */
export interface SseHooks {
  delivered(sampled: boolean, payload: Buffer | undefined): void;
  /** The connection became ready (its subscriptions are live). */
  opened(): void;
  /** A ready connection ended. */
  ended(): void;
}

export interface SseTarget {
  host: string;
  port: number;
  path: string;
  localAddress: string;
}

const SHARED = Buffer.allocUnsafe(256 * 1024);
const DATA_FIRST = 0x64; // 'd' of "data:"
const EVENT_FIRST = 0x65; // 'e' of "event:"
const LF = 0x0a;

/**
 * Counts notification events in a byte stream (any slicing). An event is the lines up to a blank
 * line; it is a notification when it has a `data:` line and no `event:` line (welcome, resumed,
 * close… have one). Comment lines (`: hb`, the edge's `:` drain probe) and `id:`/`retry:` lines
 * only belong to the event they are in: `:\nid: …\ndata: …\n\n` is one notification.
 */
export class EventCounter {
  private lineStart = true;
  private hasData = false;
  private hasEvent = false;
  private parts: Buffer[] = [];

  constructor(
    private readonly keep: boolean,
    private readonly onEvent: (payload: Buffer | undefined) => void,
  ) {}

  feed(view: Buffer): void {
    const n = view.length;
    let i = 0;
    while (i < n) {
      if (this.lineStart) {
        const c = view[i] as number;
        if (c === LF) {
          this.endBlock();
          i += 1;
          continue;
        }
        if (c === DATA_FIRST) this.hasData = true;
        else if (c === EVENT_FIRST) this.hasEvent = true;
        this.lineStart = false;
      }
      const j = view.indexOf(LF, i);
      const end = j < 0 ? n : j + 1;
      if (this.keep) this.parts.push(Buffer.from(view.subarray(i, end)));
      if (j < 0) return;
      i = end;
      this.lineStart = true;
    }
  }

  private endBlock(): void {
    if (this.hasData && !this.hasEvent) this.onEvent(this.keep ? Buffer.concat(this.parts) : undefined);
    this.parts = [];
    this.hasData = false;
    this.hasEvent = false;
  }
}

/** The value of a hex digit byte, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** Removes HTTP/1.1 chunked framing, handing the data on (any slicing of the stream). */
export class Dechunker {
  /** Data bytes left in the current chunk; -1: reading a size line; -2: the CRLF after data. */
  private left = -1;
  /** The size line so far: its hex value, and whether an extension (`;…`) or its CR began. */
  private size = 0;
  private sizeDone = false;
  private digits = 0;
  private crlf = 0;
  ended = false;

  constructor(private readonly onData: (view: Buffer) => void) {}

  feed(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i < n && !this.ended) {
      if (this.left === -1) {
        const c = buf[i++] as number;
        if (c === LF) {
          if (this.digits === 0) throw new Error('bad chunk size line');
          if (this.size === 0) {
            this.ended = true;
            return;
          }
          this.left = this.size;
          this.size = 0;
          this.digits = 0;
          this.sizeDone = false;
        } else if (!this.sizeDone) {
          const v = hexValue(c);
          if (v < 0) this.sizeDone = true;
          else {
            this.size = this.size * 16 + v;
            this.digits++;
          }
        }
      } else if (this.left === -2) {
        const skip = Math.min(this.crlf, n - i);
        i += skip;
        this.crlf -= skip;
        if (this.crlf === 0) this.left = -1;
      } else {
        const take = Math.min(this.left, n - i);
        this.onData(buf.subarray(i, i + take));
        i += take;
        this.left -= take;
        if (this.left === 0) {
          this.left = -2;
          this.crlf = 2;
        }
      }
    }
  }
}

/** The request line's path and query: every filter, and the token (EventSource cannot set headers). */
export function ssePath(path: string, filters: readonly string[], token: string | undefined): string {
  const q = filters.map((f) => `filter=${encodeURIComponent(f)}`);
  if (token !== undefined) q.push(`token=${encodeURIComponent(token)}`);
  return `${path}?${q.join('&')}`;
}

export class SseConn {
  frames = 0;
  readyOnce = false;
  private state: 'handshake' | 'ready' | 'closed' = 'handshake';
  private hs = '';
  private body: ((view: Buffer) => void) | undefined;
  private settle: ((err?: string) => void) | undefined;
  readonly sock: net.Socket;

  constructor(target: SseTarget, filters: readonly string[], private readonly sampled: boolean, token: string | undefined, private readonly hooks: SseHooks, done: (err?: string) => void) {
    this.settle = done;
    const path = ssePath(target.path, filters, token);
    this.sock = net.connect({
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      noDelay: true,
      onread: { buffer: SHARED, callback: (n: number) => this.onBytes(n) },
    });
    const request = `GET ${path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`;
    this.sock.on('connect', () => this.sock.write(request, 'latin1'));
    this.sock.on('error', (err) => this.fail(err.message));
    this.sock.on('close', () => this.onClose());
  }

  private onBytes(n: number): boolean {
    let chunk = SHARED.subarray(0, n);
    try {
      if (this.state === 'handshake') {
        this.hs += chunk.toString('latin1');
        const end = this.hs.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.hs.length > 8192) this.fail('response head too long');
          return true;
        }
        const head = this.hs.slice(0, end);
        if (!head.startsWith('HTTP/1.1 200')) {
          this.fail(`refused: ${head.slice(0, head.indexOf('\r\n'))}`);
          return true;
        }
        if (!/^content-type:\s*text\/event-stream/im.test(head)) {
          this.fail('not an event stream');
          return true;
        }
        const rest = Buffer.byteLength(this.hs, 'latin1') - (end + 4);
        chunk = chunk.subarray(chunk.length - rest);
        this.hs = '';
        const events = new EventCounter(this.sampled, (payload) => {
          this.frames++;
          this.hooks.delivered(this.sampled, payload);
        });
        if (/^transfer-encoding:\s*chunked/im.test(head)) {
          const dechunk = new Dechunker((v) => events.feed(v));
          this.body = (v) => dechunk.feed(v);
        } else {
          this.body = (v) => events.feed(v);
        }
        this.state = 'ready';
        this.readyOnce = true;
        this.hooks.opened();
        this.settle?.();
        this.settle = undefined;
      }
      if (chunk.length > 0) this.body?.(chunk);
    } catch (err) {
      this.fail((err as Error).message);
    }
    return true;
  }

  private fail(why: string): void {
    if (this.settle) {
      this.settle(why);
      this.settle = undefined;
    }
    this.sock.destroy();
  }

  private onClose(): void {
    if (this.state === 'ready') this.hooks.ended();
    this.state = 'closed';
    if (this.settle) this.fail('connection closed before it was ready');
  }
}

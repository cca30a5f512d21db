/**
 * Open Server-Sent Events streams (GET /sse, sse-route.ts): the Transport (transport.ts) over
 * uWS HTTP responses, their registry for lifecycle.ts, and their fan-out hub (delivery.ts's
 * NotificationFanout): topic → streams, each notification's event text built once and written
 * to every stream on its topics, as uWS's native publish does for WebSocket.
 *
 * Backpressure. uWS's `write` never refuses bytes: what the socket does not take is kept in the
 * response's buffer and `write` answers false; `getWriteOffset` stays 0 on a chunked response,
 * and uWS exposes no buffered amount. So each stream counts it itself: every byte written since a
 * write last went out whole (true) is taken as still buffered (an over-estimate by at most what
 * the kernel took of the first refused write). When the socket turns writable, onWritable writes
 * a one-byte comment line: true means the buffer is empty again (and a replay waiting for that
 * goes on); false, uWS calls again later. The slow-consumer sweep (lifecycle.ts) closes a stream
 * over NOTIFIER_MAX_BACKPRESSURE_BYTES; a write that would take it past HARD_BACKPRESSURE_FACTOR
 * times that closes it at once, unannounced (WebSocket's 1006), so memory stays bounded however
 * late the sweep. uWS itself aborts a response whose refused write stays unread for ~10 s. The
 * onWritable handler is registered before the first write on purpose: without one, uWS (20.30)
 * also aborted a response ~10 s after a refused write that had long drained (measured).
 *
 * Writes are queued per stream and flushed once per event-loop turn (setImmediate), each
 * stream's queue in one write: a bus batch of notifications costs one send per stream, not
 * one per notification (uWS does the same for WebSocket publish). Every write goes through the
 * queue, so events keep their order; a close flushes the queue first.
 *
 * Every call on an aborted or ended response throws: `open` is false from the moment either
 * happens, and nothing is called on the response after.
 *
 * May import the bus contract, uws (types), sse-frames and the transport contract.
 */
import type { BusNotification } from '../bus/bus.js';
import { HEARTBEAT, closeEvent, controlEvent, notificationEvent, type StreamPosition } from './sse-frames.js';
import type { Connections, Frame, SessionState } from './transport.js';
import type { Uws } from './uws.js';

/** As ws-transport.ts's: the hard cap is this multiple of NOTIFIER_MAX_BACKPRESSURE_BYTES. */
const HARD_BACKPRESSURE_FACTOR = 4;
/** Written when the socket turns writable: a comment line, ignored by EventSource. */
const DRAIN_PROBE = ':\n';
/** The close code of a stream ended without an `event: close` (over the hard cap, client gone). */
const NO_CLOSE_EVENT = 1006;

/** One stream. */
export interface SseConn {
  readonly res: Uws.HttpResponse;
  readonly state: SessionState;
  /** False once the client went away or the edge ended the response: never touch `res` then. */
  open: boolean;
  /** Bytes written since a write last went out whole: an upper bound of uWS's buffer. */
  buffered: number;
  /** Events queued for this turn's flush, and their bytes (counted in bufferedAmount). */
  pending: (string | Buffer)[];
  pendingBytes: number;
  /** The hub's topics this stream is on (its sets), left when it closes. */
  readonly topics: Set<string>;
  /** Where a resuming stream starts: its welcome's event id (it has received nothing newer). */
  readonly from: StreamPosition | undefined;
}

/** What the route does when a stream's buffer drains and when it ends (admission, sessions, metrics). */
export interface SseEvents {
  drained(c: SseConn): void;
  ended(c: SseConn, code: number): void;
}

export interface SseConnectionsOptions {
  /** The bus epoch of the notifications delivered: the first half of their event ids. */
  epoch: () => string | undefined;
  maxBackpressureBytes: number;
  /** Between two heartbeat comments on every stream. */
  heartbeatMs: number;
}

export class SseConnections implements Connections<SseConn> {
  private readonly open = new Set<SseConn>();
  private readonly byTopic = new Map<string, Set<SseConn>>();
  private readonly hardCap: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private events: SseEvents = { drained: () => undefined, ended: () => undefined };
  /** Streams with queued events, flushed at the end of this turn. */
  private readonly dirty = new Set<SseConn>();
  private flushing: NodeJS.Immediate | undefined;

  constructor(private readonly opts: SseConnectionsOptions) {
    this.hardCap = opts.maxBackpressureBytes * HARD_BACKPRESSURE_FACTOR;
  }

  /** The route's handlers (set once, when the route is added). */
  attach(events: SseEvents): void {
    this.events = events;
  }

  get size(): number {
    return this.open.size;
  }

  snapshot(): SseConn[] {
    return [...this.open];
  }

  /** A stream whose status and headers are written: from now on it is written to and counted. */
  add(res: Uws.HttpResponse, state: SessionState, from: StreamPosition | undefined): SseConn {
    const c: SseConn = { res, state, open: true, buffered: 0, pending: [], pendingBytes: 0, topics: new Set(), from };
    this.open.add(c);
    res.onWritable(() => {
      if (!c.open) return true;
      const drained = res.write(DRAIN_PROBE);
      if (drained) {
        c.buffered = 0;
        this.events.drained(c);
      }
      return drained;
    });
    if (this.heartbeat === undefined) {
      this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
      this.heartbeat.unref();
    }
    return c;
  }

  /** The client went away (uWS onAborted). */
  aborted(c: SseConn): void {
    if (c.open) this.end(c, NO_CLOSE_EVENT);
  }

  state(c: SseConn): SessionState {
    return c.state;
  }

  isOpen(c: SseConn): boolean {
    return c.open;
  }

  send(c: SseConn, frame: Frame): void {
    const text = typeof frame === 'string' ? frame : frame.toString('utf8');
    this.write(c, controlEvent(text, c.from !== undefined && text.startsWith('{"type":"welcome"') ? c.from : undefined));
  }

  deliver(c: SseConn, n: BusNotification): void {
    this.write(c, notificationEvent(this.opts.epoch() ?? '', n.offset, n.frame));
  }

  join(c: SseConn, topic: string): void {
    let streams = this.byTopic.get(topic);
    if (streams === undefined) this.byTopic.set(topic, (streams = new Set()));
    streams.add(c);
    c.topics.add(topic);
  }

  leave(c: SseConn, topic: string): void {
    c.topics.delete(topic);
    const streams = this.byTopic.get(topic);
    if (streams === undefined) return;
    streams.delete(c);
    if (streams.size === 0) this.byTopic.delete(topic);
  }

  /** Writes what is queued, `event: close` with the code and reason, then ends the response. */
  close(c: SseConn, code: number, reason: string): void {
    if (!c.open) return;
    const text = closeEvent(code, reason);
    if (c.buffered + c.pendingBytes + text.length > this.hardCap) return this.drop(c);
    const queued = c.pending;
    // Ended first, so that a throw in uWS cannot leave a stream counted as open.
    this.end(c, code);
    c.res.cork(() => {
      for (const chunk of queued) c.res.write(chunk);
      c.res.write(text);
      c.res.end(undefined, true);
    });
  }

  bufferedAmount(c: SseConn): number {
    return c.buffered + c.pendingBytes;
  }

  /** NotificationFanout: the event text once, then a write per stream on each topic. */
  fanout(topics: readonly string[], n: BusNotification): number {
    if (this.byTopic.size === 0) return 0;
    let event: Buffer | undefined;
    let sent = 0;
    for (const topic of topics) {
      const streams = this.byTopic.get(topic);
      if (streams === undefined) continue;
      event ??= Buffer.from(notificationEvent(this.opts.epoch() ?? '', n.offset, n.frame));
      for (const c of streams) {
        this.write(c, event);
        sent += 1;
      }
    }
    return sent;
  }

  /** Stops the heartbeat (the edge stopped). Streams still open are the drain's. */
  stop(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Queues one event for this turn's flush. */
  write(c: SseConn, text: string | Buffer): void {
    if (!c.open) return;
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    if (c.buffered + c.pendingBytes + bytes > this.hardCap) return this.drop(c);
    c.pending.push(text);
    c.pendingBytes += bytes;
    this.dirty.add(c);
    this.flushing ??= setImmediate(() => this.flush());
  }

  /**
   * Every stream's queue in one write (outside a uWS handler, each write would be its own
   * syscall; and a write per event costs a native call each). Streams on the same topics queue
   * the same event buffers: one concatenation serves each run of them.
   */
  private flush(): void {
    this.flushing = undefined;
    let lastQueue: (string | Buffer)[] = [];
    let lastChunk: string | Buffer = '';
    for (const c of this.dirty) {
      this.dirty.delete(c);
      const { pending, pendingBytes } = c;
      c.pending = [];
      c.pendingBytes = 0;
      if (!c.open || pending.length === 0) continue;
      if (!sameItems(pending, lastQueue)) {
        lastQueue = pending;
        lastChunk = pending.length === 1 ? (pending[0] as string | Buffer) : Buffer.concat(pending.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
      }
      const chunk = lastChunk;
      let whole = false;
      c.res.cork(() => {
        whole = c.res.write(chunk);
      });
      c.buffered = whole ? 0 : c.buffered + pendingBytes;
      // A replay waiting for the buffer to drain counted the queue: it went out whole.
      if (whole) this.events.drained(c);
    }
  }

  private beat(): void {
    for (const c of this.open) this.write(c, HEARTBEAT);
    if (this.open.size === 0) this.stop();
  }

  /** Over the hard cap: the socket is closed at once (onAborted follows; `open` already false). */
  private drop(c: SseConn): void {
    this.end(c, NO_CLOSE_EVENT);
    c.res.close();
  }

  /** The stream is over, whoever ended it: out of the registry and the hub, then the route's cleanup. */
  private end(c: SseConn, code: number): void {
    c.open = false;
    this.dirty.delete(c);
    this.open.delete(c);
    for (const topic of c.topics) this.leave(c, topic);
    this.events.ended(c, code);
  }
}

/** The same events in the same order (the hub queues shared buffers: compared by identity). */
function sameItems(a: readonly (string | Buffer)[], b: readonly (string | Buffer)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One load-generator process (forked by pool.ts): holds up to a few thousand WebSocket
 * connections on raw `net` sockets, counts the frames each receives, and parses only the frames
 * of sampled connections (for `sent_at` → latency). All sockets read into one shared buffer, so
 * receiving allocates nothing per read. Socket.IO connections (SocketIoConn) read every frame's
 * first bytes, to tell events from pings; the other modes do not.
 */
import net from 'node:net';
import { FrameReader, OP_CLOSE, OP_PING, OP_PONG, clientFrame, envelopeTime, monoMs, sentAt, textFrame, upgradeRequest, type FrameSink } from './frames.js';
import { filtersFor, indicesOf, isSampled, whereFor, type FromWorker, type OpenSpec, type ToWorker, type WorkerReport } from './messages.js';
import { CONNECT_MAIN, PONG, sioPacket, socketIoQuery } from './socketio.js';
import { inLanes } from './lanes.js';
import { SseConn, type SseHooks } from './sse-client.js';
import { bearerHeader, mintTokens } from './tokens.js';

const SHARED = Buffer.allocUnsafe(256 * 1024);
const MAX_SAMPLES = 200_000;

let totalFrames = 0;
let openConns = 0;
const closed: Record<string, number> = {};
let samples: [number, number, number][] = [];
let samplesDropped = 0;
let unparsed = 0;
/** Every connection opened, with its index (for per-connection counts). */
const conns: { index: number; conn: { frames: number; readyOnce: boolean } }[] = [];

function send(msg: FromWorker): void {
  process.send?.(msg);
}

const enum State {
  Handshake,
  Subscribing,
  Ready,
  Closed,
}

/** The upgrade request's path and query: the topics go in the query, except for notifier. */
function upgradePath(spec: OpenSpec, filters: string[]): string {
  switch (spec.mode) {
    case 'notifier':
      return spec.path;
    case 'raw':
      return `${spec.path}?topics=${encodeURIComponent(filters.join(','))}`;
    case 'socketio':
      return `${spec.path}${socketIoQuery(filters)}`;
    case 'sse':
      throw new Error('SSE connections are SseConn');
  }
}

/** A data frame received by a ready connection: count it, and read `sent_at` on a sampled one. */
function delivered(sampled: boolean, payload: Buffer | undefined): void {
  totalFrames++;
  if (sampled && payload) {
    const at = sentAt(payload);
    if (Number.isNaN(at)) unparsed++;
    else if (samples.length < MAX_SAMPLES) samples.push([monoMs() - at, at, Date.now() - envelopeTime(payload)]);
    else samplesDropped++;
  }
}

class Conn implements FrameSink {
  state = State.Handshake;
  /** Data frames received once ready; whether it ever was ready. */
  frames = 0;
  readyOnce = false;
  private hs = '';
  protected readonly reader: FrameReader;
  /** Whether the reader keeps the payloads of frames once ready (sampled, or Socket.IO). */
  protected readonly keep: boolean;
  private awaiting: number;
  private closeCode = 'none';
  readonly sock: net.Socket;
  private settle: ((err?: string) => void) | undefined;

  constructor(
    private readonly spec: OpenSpec,
    private readonly filters: string[],
    protected readonly sampled: boolean,
    done: (err?: string) => void,
    /** Its token (`Authorization: Bearer`), for an edge with NOTIFIER_AUTH=jwt. */
    token?: string,
    /** The `where` of each of its subscriptions (notifier only). */
    private readonly where?: unknown,
  ) {
    this.settle = done;
    // welcome + one ack per filter (notifier), or the raw server's one ready frame.
    this.awaiting = spec.mode === 'notifier' ? 1 + filters.length : 1;
    this.keep = sampled || spec.mode === 'socketio';
    this.reader = new FrameReader(this, sampled);
    const path = upgradePath(spec, filters);
    this.sock = net.connect({
      host: spec.host,
      port: spec.port,
      localAddress: spec.localAddress,
      noDelay: true,
      onread: { buffer: SHARED, callback: (n: number) => this.onBytes(n) },
    });
    this.sock.on('connect', () => this.sock.write(upgradeRequest(spec.host, spec.port, path, bearerHeader(token))));
    this.sock.on('error', (err) => this.fail(err.message));
    this.sock.on('close', () => this.onClose());
  }

  private onBytes(n: number): boolean {
    let chunk = SHARED.subarray(0, n);
    if (this.state === State.Handshake) {
      this.hs += chunk.toString('latin1');
      const end = this.hs.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.hs.length > 8192) this.fail('upgrade response too long');
        return true;
      }
      if (!this.hs.startsWith('HTTP/1.1 101')) {
        this.fail(`upgrade refused: ${this.hs.slice(0, this.hs.indexOf('\r\n'))}`);
        return true;
      }
      const rest = Buffer.byteLength(this.hs, 'latin1') - (end + 4);
      chunk = chunk.subarray(chunk.length - rest);
      this.hs = '';
      this.state = State.Subscribing;
      if (this.spec.mode === 'notifier') {
        for (const f of this.filters) this.sock.write(textFrame(JSON.stringify({ type: 'subscribe', filter: f, ...(this.where !== undefined && { where: this.where }) })));
      }
      if (chunk.length === 0) return true;
    }
    this.reader.collect = this.keep || this.state !== State.Ready;
    this.reader.feed(chunk);
    return true;
  }

  onFrame(_opcode: number, payload: Buffer | undefined): void {
    if (this.state !== State.Ready) {
      if (this.state !== State.Subscribing) return;
      const text = payload?.toString('utf8') ?? '';
      if (text.includes('"type":"error"')) {
        this.fail(`server error: ${text.slice(0, 200)}`);
        return;
      }
      if (--this.awaiting === 0) this.ready();
      return;
    }
    this.frames++;
    delivered(this.sampled, payload);
  }

  protected ready(): void {
    this.state = State.Ready;
    this.readyOnce = true;
    this.reader.collect = this.keep;
    openConns++;
    this.settle?.();
    this.settle = undefined;
  }

  onControl(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) {
      if (this.state !== State.Closed) this.sock.write(clientFrame(OP_PONG, payload));
    } else if (opcode === OP_CLOSE) {
      this.closeCode = payload.length >= 2 ? String(payload.readUInt16BE(0)) : 'empty';
      this.sock.destroy();
    }
  }

  protected fail(why: string): void {
    if (this.settle) {
      this.settle(why);
      this.settle = undefined;
    }
    this.sock.destroy();
  }

  private onClose(): void {
    if (this.state === State.Ready) {
      openConns--;
      closed[this.closeCode] = (closed[this.closeCode] ?? 0) + 1;
    }
    this.state = State.Closed;
    if (this.settle) this.fail('connection closed before it was ready');
  }
}

/** A Socket.IO client (socketio.ts): connects to the main namespace, counts events, answers pings. */
class SocketIoConn extends Conn {
  override onFrame(_opcode: number, payload: Buffer | undefined): void {
    if (!payload || this.state === State.Closed) return;
    switch (sioPacket(payload)) {
      case 'event':
        if (this.state === State.Ready) {
          this.frames++;
          delivered(this.sampled, payload);
        }
        break;
      case 'ping':
        this.sock.write(PONG);
        break;
      case 'open':
        this.sock.write(CONNECT_MAIN);
        break;
      case 'connected':
        if (this.state === State.Subscribing) this.ready();
        break;
      case 'connect-error':
        this.fail(`server error: ${payload.toString('utf8', 0, 200)}`);
        break;
      case 'other':
        break;
    }
  }
}

/** The worker's counters, for SSE connections. */
const sseHooks: SseHooks = {
  delivered,
  opened: () => void openConns++,
  ended: () => {
    openConns--;
    closed['eof'] = (closed['eof'] ?? 0) + 1;
  },
};

async function openAll(spec: OpenSpec): Promise<void> {
  const indices = indicesOf(spec);
  const minted = Date.now();
  const tokens = (spec.mode === 'notifier' || spec.mode === 'sse') && spec.auth ? await mintTokens(spec.auth, spec.filters, indices, spec.tenants) : undefined;
  const started = Date.now();
  let ready = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  await inLanes(indices.length, spec.concurrency, (k) => {
    const i = indices[k] as number;
    const sampled = isSampled(i, spec.sampleEvery);
    return new Promise<void>((resolve) => {
      let conn: { sock: net.Socket; frames: number; readyOnce: boolean } | undefined = undefined;
      const timer = setTimeout(() => finish('not ready in time'), spec.connectTimeoutMs);
      function finish(err?: string): void {
        clearTimeout(timer);
        if (err === undefined) {
          ready++;
        } else {
          failed++;
          errors.set(err, (errors.get(err) ?? 0) + 1);
          conn?.sock.destroy();
        }
        resolve();
      }
      let settled = false;
      const done = (err?: string): void => {
        if (settled) return;
        settled = true;
        finish(err);
      };
      const filters = filtersFor(spec.filters, i);
      if (spec.mode === 'sse') conn = new SseConn(spec, filters, sampled, tokens?.get(i), sseHooks, done);
      else if (spec.mode === 'socketio') conn = new SocketIoConn(spec, filters, sampled, done);
      else conn = new Conn(spec, filters, sampled, done, tokens?.get(i), whereFor(spec.filters, i));
      conns.push({ index: i, conn });
    });
  });
  send({ t: 'opened', ready, failed, errors: [...errors].map(([e, n]) => `${n}× ${e}`), ms: Date.now() - started, mintMs: started - minted, startedAt: started, endedAt: Date.now() });
}

function report(id: number, drain: boolean, counts: boolean): void {
  const r: WorkerReport = { frames: totalFrames, open: openConns, closed: { ...closed }, samples, samplesDropped, unparsed };
  if (counts) r.counts = conns.filter((c) => c.conn.readyOnce).map((c) => [c.index, c.conn.frames]);
  if (drain) {
    samples = [];
    samplesDropped = 0;
  }
  send({ t: 'report', id, ...r });
}

let lastProgress = -1;
setInterval(() => {
  if (totalFrames === lastProgress) return;
  lastProgress = totalFrames;
  send({ t: 'progress', frames: totalFrames, open: openConns });
}, 10);

process.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'open':
      void openAll(msg.spec);
      break;
    case 'report':
      report(msg.id, msg.drain, msg.counts === true);
      break;
    case 'exit':
      process.exit(0);
  }
});
// The parent is gone (or closed the channel): the kernel closes every socket with the process.
process.on('disconnect', () => process.exit(0));

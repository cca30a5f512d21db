/**
 * One resilient notifier client of the reconnect storm, on a raw `net` socket: subscribes once,
 * records every seq it receives (a count per seq), keeps the epoch and the last offset, and on
 * any drop reconnects through the load balancer like a real client — jittered exponential
 * back-off (Backoff) — sending `resume` as its first request. An upgrade refused (HAProxy or the
 * edge answering 503), a refused or reset connection, or an attempt that times out is retried the
 * same way.
 */
import net from 'node:net';
import { FrameReader, OP_CLOSE, OP_PING, OP_PONG, clientFrame, textFrame, upgradeRequest, type FrameSink } from './frames.js';
import { isControl, offsetOf, seqOf } from './storm-frames.js';
import type { Outage, StormProgress, StormReport, StormSpec } from './storm-messages.js';
import { bearerHeader } from './tokens.js';

/** What every client of one worker adds to: the report's counters, the progress counts, and flags. */
export type StormStats = Pick<
  StormReport,
  'resumed' | 'resets' | 'resetReasons' | 'replayed' | 'outOfOrder' | 'beyond' | 'extraDrops' | 'attempts' | 'refused' | 'failures' | 'closeCodes' | 'errors'
> &
  StormProgress & {
    armed: boolean;
    /** Something changed since the last progress message. */
    dirty: boolean;
  };

export function newStats(): StormStats {
  return {
    armed: false,
    live: 0,
    dropped: 0,
    back: 0,
    resumed: 0,
    resets: 0,
    resetReasons: {},
    replayed: 0,
    outOfOrder: 0,
    beyond: 0,
    extraDrops: 0,
    attempts: 0,
    refused: {},
    failures: {},
    closeCodes: {},
    errors: [],
    dirty: true,
  };
}

const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

const enum State {
  Waiting,
  Connecting,
  Upgraded,
  Live,
  Stopped,
}

export class StormClient implements FrameSink {
  /** Edge node of the last welcome (the client_id prefix). */
  node = '';
  readonly outage: Outage = { droppedAt: 0, attemptAt: 0, upgradedAt: 0, welcomedAt: 0, liveAt: 0, attempts: 0 };
  private state = State.Waiting;
  private sock: net.Socket | undefined;
  private reader: FrameReader | undefined;
  private hs = '';
  private closeCode = 'none';
  private timer: NodeJS.Timeout | undefined;
  /** Failed attempts since the last live connection. */
  private failures = 0;
  private everLive = false;
  private epoch = '';
  private offset = '0-0';
  /** The last notification received; its offset is read only when resuming. */
  private lastFrame: Buffer | undefined;
  private lastSeq = -1;
  private attemptAt = 0;
  private upgradedAt = 0;
  private welcomedAt = 0;

  constructor(
    private readonly spec: StormSpec,
    /** The client's receipt count per seq (its slice of the worker's table). */
    readonly counts: Uint8Array,
    private readonly stats: StormStats,
    private readonly readBuffer: Buffer,
    private readonly onFirstLive: () => void,
    /** Its token, presented on every attempt (`Authorization: Bearer`); absent: anonymous. */
    private readonly token?: string,
  ) {}

  get live(): boolean {
    return this.state === State.Live;
  }

  connect(): void {
    if (this.state === State.Stopped) return;
    this.state = State.Connecting;
    this.hs = '';
    this.closeCode = 'none';
    this.attemptAt = Date.now();
    if (this.everLive) this.stats.attempts++;
    if (this.inOutage()) this.outage.attempts++;
    this.reader = new FrameReader(this, true);
    const { host, port, path, localAddress } = this.spec;
    const sock: net.Socket = net.connect({
      host,
      port,
      localAddress,
      noDelay: true,
      onread: { buffer: this.readBuffer, callback: (n: number): boolean => this.onBytes(sock, n) },
    });
    this.sock = sock;
    sock.on('connect', () => sock.write(upgradeRequest(host, port, path, bearerHeader(this.token))));
    sock.on('error', (err: NodeJS.ErrnoException) => bump(this.stats.failures, err.code ?? err.message));
    sock.on('close', () => this.onClose(sock));
    this.timer = setTimeout(() => {
      bump(this.stats.failures, 'timeout');
      sock.destroy();
    }, this.spec.connectTimeoutMs);
  }

  stop(): void {
    this.state = State.Stopped;
    clearTimeout(this.timer);
    this.sock?.destroy();
  }

  private inOutage(): boolean {
    return this.outage.droppedAt > 0 && this.outage.liveAt === 0;
  }

  private onBytes(sock: net.Socket, n: number): boolean {
    if (sock !== this.sock) return true;
    let chunk = this.readBuffer.subarray(0, n);
    if (this.state === State.Connecting) {
      this.hs += chunk.toString('latin1');
      const end = this.hs.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.hs.length > 8192) sock.destroy();
        return true;
      }
      if (!this.hs.startsWith('HTTP/1.1 101')) {
        bump(this.stats.refused, this.hs.slice(9, 12));
        sock.destroy();
        return true;
      }
      clearTimeout(this.timer);
      this.upgradedAt = Date.now();
      const rest = Buffer.byteLength(this.hs, 'latin1') - (end + 4);
      chunk = chunk.subarray(chunk.length - rest);
      this.hs = '';
      this.state = State.Upgraded;
      // The first request: resume where the last connection left off, or the first subscribe.
      const request = this.everLive
        ? { type: 'resume', epoch: this.epoch, offset: this.lastFrame ? offsetOf(this.lastFrame) : this.offset, filters: [this.spec.filter] }
        : { type: 'subscribe', filter: this.spec.filter };
      sock.write(textFrame(JSON.stringify(request)));
      if (chunk.length === 0) return true;
    }
    this.reader?.feed(chunk);
    return true;
  }

  onFrame(_opcode: number, payload: Buffer | undefined): void {
    if (!payload || this.state === State.Stopped) return;
    if (isControl(payload)) {
      this.onControlMessage(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
      return;
    }
    const seq = seqOf(payload);
    if (seq < 0) return;
    this.lastFrame = payload;
    if (seq <= this.lastSeq) this.stats.outOfOrder++;
    this.lastSeq = seq;
    if (seq < this.counts.length) {
      const c = this.counts[seq] as number;
      if (c < 255) this.counts[seq] = c + 1;
    } else {
      this.stats.beyond++;
    }
  }

  private onControlMessage(m: Record<string, unknown>): void {
    const str = (k: string) => (typeof m[k] === 'string' ? (m[k] as string) : '');
    switch (m['type']) {
      case 'welcome': {
        this.welcomedAt = Date.now();
        const id = str('client_id');
        this.node = id.slice(0, id.lastIndexOf('-'));
        if (!this.everLive) {
          this.epoch = str('epoch');
          this.offset = str('offset') || '0-0';
        }
        break;
      }
      case 'subscribed':
        if (!this.everLive) this.goLive();
        break;
      case 'resumed':
        this.stats.resumed++;
        this.stats.replayed += Number(m['replayed'] ?? 0);
        this.offset = str('offset') || this.offset;
        this.lastFrame = undefined;
        this.goLive();
        break;
      case 'reset':
        this.stats.resets++;
        bump(this.stats.resetReasons, str('reason'));
        this.epoch = str('epoch');
        this.offset = str('offset') || this.offset;
        this.lastFrame = undefined;
        this.goLive();
        break;
      case 'error':
        if (this.stats.errors.length < 10) this.stats.errors.push(JSON.stringify(m).slice(0, 200));
        if (this.state !== State.Live) this.sock?.destroy();
        break;
      default:
        break;
    }
  }

  onControl(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) {
      if (this.state !== State.Stopped) this.sock?.write(clientFrame(OP_PONG, payload));
    } else if (opcode === OP_CLOSE) {
      this.closeCode = payload.length >= 2 ? String(payload.readUInt16BE(0)) : 'empty';
      this.sock?.destroy();
    }
  }

  private goLive(): void {
    if (this.state !== State.Upgraded) return;
    this.state = State.Live;
    this.failures = 0;
    this.stats.live++;
    this.stats.dirty = true;
    if (this.inOutage()) {
      this.outage.attemptAt = this.attemptAt;
      this.outage.upgradedAt = this.upgradedAt;
      this.outage.welcomedAt = this.welcomedAt;
      this.outage.liveAt = Date.now();
      this.stats.back++;
    }
    if (!this.everLive) {
      this.everLive = true;
      this.onFirstLive();
    }
  }

  private onClose(sock: net.Socket): void {
    if (sock !== this.sock) return;
    clearTimeout(this.timer);
    const wasLive = this.state === State.Live;
    if (this.state === State.Stopped) return;
    this.state = State.Waiting;
    this.sock = undefined;
    this.reader = undefined;
    if (wasLive) {
      this.stats.live--;
      this.stats.dirty = true;
      bump(this.stats.closeCodes, this.closeCode);
      if (this.stats.armed) {
        if (this.outage.droppedAt === 0) {
          this.outage.droppedAt = Date.now();
          this.stats.dropped++;
        } else if (!this.inOutage()) {
          this.stats.extraDrops++;
        }
      }
    } else {
      this.failures++;
    }
    const { firstMs, maxMs } = this.spec.backoff;
    const window = wasLive ? firstMs : Math.min(maxMs, firstMs * 2 ** this.failures);
    this.timer = setTimeout(() => this.connect(), Math.random() * window);
  }
}

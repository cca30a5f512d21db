/**
 * The client side of RFC 6455, as little of it as a load generator needs: the upgrade request,
 * masked client frames, and a streaming reader of (unmasked) server frames that counts them and
 * hands over the payload only when asked to (the sampled connections).
 */
import { randomBytes } from 'node:crypto';

export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** A fixed key: the server only hashes it, and this client does not check the accept header. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** `headers`: extra header lines, each ending in CRLF (e.g. tokens.ts' bearerHeader). */
export function upgradeRequest(host: string, port: number, path: string, headers = ''): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`,
    'latin1',
  );
}

/** One masked client frame (FIN set). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const headLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headLen + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, headLen);
  const body = headLen + 4;
  for (let i = 0; i < len; i++) out[body + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return out;
}

export function textFrame(text: string): Buffer {
  return clientFrame(OP_TEXT, Buffer.from(text, 'utf8'));
}

export interface FrameSink {
  /** A complete data frame; `payload` only when the reader collects payloads. */
  onFrame(opcode: number, payload: Buffer | undefined): void;
  onControl(opcode: number, payload: Buffer): void;
}

/**
 * Streaming parser of server frames. `feed` may be called with any slicing of the byte stream;
 * the chunk is not retained (the caller may reuse its buffer), payloads are copied when kept.
 */
export class FrameReader {
  /** Bytes of the current frame's payload still to come (-1: expecting a header). */
  private remaining = -1;
  private opcode = 0;
  private fin = false;
  /** A header split across chunks (at most 14 bytes). */
  private partial: Buffer | undefined;
  private parts: Buffer[] = [];

  constructor(private readonly sink: FrameSink, public collect: boolean) {}

  feed(chunk: Buffer): void {
    let buf = chunk;
    if (this.partial) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.remaining < 0) {
        if (n - i < 2) {
          this.partial = Buffer.from(buf.subarray(i));
          return;
        }
        const b0 = buf[i] as number;
        const b1 = buf[i + 1] as number;
        let len = b1 & 0x7f;
        let head = 2;
        if (len === 126) {
          if (n - i < 4) {
            this.partial = Buffer.from(buf.subarray(i));
            return;
          }
          len = buf.readUInt16BE(i + 2);
          head = 4;
        } else if (len === 127) {
          if (n - i < 10) {
            this.partial = Buffer.from(buf.subarray(i));
            return;
          }
          len = Number(buf.readBigUInt64BE(i + 2));
          head = 10;
        }
        if (b1 & 0x80) head += 4; // a masked server frame is a protocol error; skip the key anyway
        if (n - i < head) {
          this.partial = Buffer.from(buf.subarray(i));
          return;
        }
        i += head;
        this.fin = (b0 & 0x80) !== 0;
        const op = b0 & 0x0f;
        if (op !== OP_CONT) this.opcode = op;
        this.remaining = len;
        if (len === 0) this.finish(op);
        continue;
      }
      const take = Math.min(this.remaining, n - i);
      if (this.collect || this.opcode >= OP_CLOSE) this.parts.push(Buffer.from(buf.subarray(i, i + take)));
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish(this.opcode);
    }
  }

  private finish(op: number): void {
    this.remaining = -1;
    if (op >= OP_CLOSE) {
      const payload = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
      this.parts = [];
      this.sink.onControl(op, payload);
      return;
    }
    if (!this.fin) return;
    let payload: Buffer | undefined;
    if (this.collect) {
      payload = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
      this.parts = [];
    }
    this.sink.onFrame(this.opcode, payload);
  }
}

/**
 * `"sent_at":<number>` from a frame, without parsing the JSON; NaN when absent. The benchmark
 * producers put it in every payload (milliseconds of the shared monotonic clock, see monoMs).
 */
export function sentAt(frame: Buffer): number {
  const at = frame.indexOf(SENT_AT);
  if (at < 0) return Number.NaN;
  let end = at + SENT_AT.length;
  const start = end;
  while (end < frame.length) {
    const c = frame[end] as number;
    if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x65 || c === 0x2b) end++;
    else break;
  }
  return Number(frame.toString('latin1', start, end));
}
const SENT_AT = Buffer.from('"sent_at":');

/**
 * The envelope's `timestamp` (ms since the epoch): for notifier, the time the listener received
 * the NOTIFY (benchmark payloads carry no timestamp of their own). NaN when absent. The frame's
 * last "timestamp" key is the envelope's (it follows the payload).
 */
export function envelopeTime(frame: Buffer): number {
  const at = frame.lastIndexOf(TIMESTAMP);
  if (at < 0) return Number.NaN;
  const start = at + TIMESTAMP.length;
  const end = frame.indexOf(0x22, start);
  return end < 0 ? Number.NaN : Date.parse(frame.toString('latin1', start, end));
}
const TIMESTAMP = Buffer.from('"timestamp":"');

/**
 * Milliseconds (µs resolution) of CLOCK_MONOTONIC, which every process on this machine shares:
 * the producers stamp `sent_at` with it and the load generator subtracts it on receipt.
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/**
 * POST /api/notify: the live page's test form sends one notification through PostgreSQL.
 *
 * A development aid, never on by default in production: `notifier start` serves it to clients on
 * this machine only (loopback); NOTIFIER_SEND_ENDPOINT=1 serves it to every client (and turns it
 * on for an edge). The edge does not talk to PostgreSQL itself: roles.ts hands it `send`.
 *
 * May import observability types, protocol, http-reply and uws (types); never pg.
 */
import type { Logger } from '../observability/logger.js';
import { validateSendRequest, type SendRequest } from '../protocol/send-request.js';
import { replyJson } from './http-reply.js';
import type { Uws } from './uws.js';

/** Sends one valid notification; rejects when PostgreSQL did not take it (answered 502). */
export type SendFn = (req: SendRequest) => Promise<void>;

/** Ample for a test notification; an outbox payload has no other limit. */
export const MAX_BODY_BYTES = 64 * 1024;

const FIELDS = ['channel', 'payload', 'outbox'];

export type ParsedSend = { ok: true; input: SendRequest } | { ok: false; message: string };

/** Validates a request body: `{"channel": string, "payload": any JSON value, "outbox"?: boolean}`, then the request itself. */
export function parseSendBody(body: Uint8Array): ParsedSend {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { ok: false, message: 'body is not UTF-8 text' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `body is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'body must be a JSON object: {"channel": "...", "payload": {...}, "outbox": false}' };
  }
  const obj = value as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0) return { ok: false, message: `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}: expected ${FIELDS.join(', ')}` };
  if (typeof obj['channel'] !== 'string') return { ok: false, message: 'channel must be a string, e.g. "execution_status_changed"' };
  if (!('payload' in obj)) return { ok: false, message: 'payload is missing: any JSON value, e.g. {"entity_type": "execution", "entity_id": 123}' };
  const outbox = obj['outbox'] ?? false;
  if (typeof outbox !== 'boolean') return { ok: false, message: 'outbox must be true or false' };
  const input = { channel: obj['channel'], json: JSON.stringify(obj['payload']), outbox };
  const invalid = validateSendRequest(input);
  return invalid === undefined ? { ok: true, input } : { ok: false, message: invalid };
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x (uWS gives 4 or 16 address bytes). */
export function isLoopback(address: ArrayBuffer): boolean {
  const b = new Uint8Array(address);
  if (b.length === 4) return b[0] === 127;
  if (b.length !== 16) return false;
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return b[12] === 127;
  return zeros(0, 15) && b[15] === 1;
}

export interface SendEndpointOptions {
  send: SendFn;
  /** Answer only clients on this machine (the default of `notifier start`). */
  loopbackOnly: boolean;
  logger: Logger;
}

export const LOOPBACK_ONLY_HINT =
  'POST /api/notify answers only clients on the machine running `notifier start`; set NOTIFIER_SEND_ENDPOINT=1 to allow others';

/** The handler for any method on /api/notify. */
export function sendEndpoint(opts: SendEndpointOptions): (res: Uws.HttpResponse, req: Uws.HttpRequest) => void {
  return (res, req) => {
    // Everything from `req` is read now: it is only valid during this call.
    if (req.getMethod().toLowerCase() !== 'post') {
      return replyJson(res, '405 Method Not Allowed', { error: 'use POST with a JSON body {"channel", "payload", "outbox"}' }, { allow: 'POST' });
    }
    if (opts.loopbackOnly && !isLoopback(res.getRemoteAddress())) return replyJson(res, '403 Forbidden', { error: LOOPBACK_ONLY_HINT });
    // A cross-site page can POST text/plain or a form without asking, but not JSON: requiring it
    // (and a matching Origin when the browser sends one) keeps other sites from using the endpoint.
    if (!/^application\/json\s*(;|$)/i.test(req.getHeader('content-type'))) {
      return replyJson(res, '415 Unsupported Media Type', { error: 'send Content-Type: application/json' });
    }
    const origin = req.getHeader('origin');
    if (origin !== '' && !sameHost(origin, req.getHeader('host'))) {
      return replyJson(res, '403 Forbidden', { error: `cross-origin request from ${origin} refused` });
    }
    const length = req.getHeader('content-length');
    if (length === '' && req.getHeader('transfer-encoding') === '') return replyJson(res, '411 Length Required', { error: 'send a JSON body' });
    if (Number(length) > MAX_BODY_BYTES) return tooLarge(res);
    readBody(res, (body, aborted) => {
      if (body === undefined) return tooLarge(res);
      const parsed = parseSendBody(body);
      if (!parsed.ok) return replyJson(res, '400 Bad Request', { error: parsed.message });
      return deliver(res, aborted, opts, parsed.input);
    });
  };
}

/** Closes the connection too: the rest of the body may still be on its way. */
function tooLarge(res: Uws.HttpResponse): void {
  replyJson(res, '413 Content Too Large', { error: `body is larger than ${MAX_BODY_BYTES} bytes` }, {}, true);
}

function sameHost(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * Collects the body (onData chunks are neutered when the callback returns, so each is copied),
 * then calls `done` corked. `done(undefined)` when the body exceeds MAX_BODY_BYTES (a chunked
 * request has no length up front). `aborted()` tells a later, asynchronous reply whether the
 * client went away: any call on an aborted response throws.
 */
function readBody(res: Uws.HttpResponse, done: (body: Buffer | undefined, aborted: () => boolean) => void): void {
  let aborted = false;
  let finished = false;
  const chunks: Buffer[] = [];
  let size = 0;
  const isAborted = () => aborted;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    if (aborted || finished) return;
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) {
      finished = true;
      res.cork(() => done(undefined, isAborted));
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) {
      finished = true;
      res.cork(() => done(Buffer.concat(chunks), isAborted));
    }
  });
}

function deliver(res: Uws.HttpResponse, aborted: () => boolean, opts: SendEndpointOptions, input: SendRequest): void {
  const reply = (status: string, body: unknown) => {
    if (!aborted()) res.cork(() => replyJson(res, status, body));
  };
  opts.send(input).then(
    () => reply('202 Accepted', { status: 'sent', channel: input.channel, outbox: input.outbox }),
    (err: Error) => {
      opts.logger.warn({ event: 'edge:send:error', channel: input.channel, err: err.message }, 'POST /api/notify: PostgreSQL did not take the notification');
      return reply('502 Bad Gateway', { error: err.message });
    },
  );
}

/**
 * The text of a Server-Sent Events stream (GET /sse, sse-route.ts) and what its request says.
 *
 * Events: a notification is `id: <epoch>/<offset>` and `data: <frame>` (the WebSocket frame as
 * is, one line of JSON); a control message (welcome, resumed, reset, error) is `event: <type>`
 * and `data: <frame>`, with an `id:` when it names a bus position (welcome, resumed, reset), so
 * that an EventSource reconnecting before its first notification resumes from there. An event
 * id is the epoch (a UUID: no `/`) and the offset, joined by `/`.
 *
 * The request: `filter` (repeated, at least one), `where` (a JSON object applying to every
 * filter), `token`, `last_event_id`. A `Last-Event-ID` header wins over `?last_event_id=`: the
 * browser sends the header on each automatic reconnect, with a newer id than the URL it was
 * first opened with.
 *
 * Pure: may import protocol only.
 */
import { isOffset } from '../protocol/offsets.js';
import { parseSubscription, type WireSubscription } from '../protocol/subscription.js';

/** A bus position, as an event id names it. */
export interface StreamPosition {
  epoch: string;
  offset: string;
}

/** Sent to every stream every interval: proxies and browsers see traffic on an idle stream. */
export const HEARTBEAT = ': hb\n\n';

/** The first line of a stream: how long an EventSource waits before reconnecting. */
export function retryField(ms: number): string {
  return `retry: ${ms}\n\n`;
}

export function eventId(epoch: string, offset: string): string {
  return `${epoch}/${offset}`;
}

/** `<epoch>/<offset>` → the position; undefined when malformed. */
export function parseEventId(id: string): StreamPosition | undefined {
  const slash = id.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const epoch = id.slice(0, slash);
  const offset = id.slice(slash + 1);
  if (epoch.length > 128 || /[\s/]/.test(epoch) || !isOffset(offset)) return undefined;
  return { epoch, offset };
}

/**
 * Frames are one line of JSON (JSON.stringify escapes every line break); a raw line break would
 * end the `data:` field early and hand the client half a frame. Checked, never assumed: such a
 * frame is split into several `data:` lines, which an EventSource joins back with `\n`.
 */
function dataLines(frame: string): string {
  if (!/[\r\n]/.test(frame)) return `data: ${frame}\n`;
  return frame
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('');
}

/** A notification: its event id and the frame as the WebSocket sends it. */
export function notificationEvent(epoch: string, offset: string, frame: string | Buffer): string {
  return `id: ${epoch}/${offset}\n${dataLines(typeof frame === 'string' ? frame : frame.toString('utf8'))}\n`;
}

/** A control message: `event: <type>`, an id when it carries a position (`at`, or its own epoch and offset). */
export function controlEvent(frame: string, at?: StreamPosition): string {
  let type = 'message';
  let position = at;
  try {
    const msg = JSON.parse(frame) as { type?: unknown; epoch?: unknown; offset?: unknown };
    if (typeof msg.type === 'string' && /^[a-z_]{1,32}$/.test(msg.type)) type = msg.type;
    if (position === undefined && typeof msg.epoch === 'string' && isOffset(msg.offset)) position = { epoch: msg.epoch, offset: msg.offset };
  } catch {
    // Control frames are built by the edge; a broken one still goes out, as a plain message.
  }
  const id = position === undefined ? '' : `id: ${eventId(position.epoch, position.offset)}\n`;
  return `event: ${type}\n${id}${dataLines(frame)}\n`;
}

/** The last event of a stream the edge ends: the close code and reason a WebSocket would get. */
export function closeEvent(code: number, reason: string): string {
  return `event: close\ndata: ${JSON.stringify({ type: 'close', code, reason })}\n\n`;
}

export type SseRequest =
  | { ok: true; subscriptions: WireSubscription[]; from: StreamPosition | undefined }
  | { ok: false; error: 'invalid_filter' | 'invalid_where' | 'invalid_last_event_id'; message: string };

/** Reads GET /sse's query string (uWS getQuery: no `?`) and Last-Event-ID header ('' when absent). */
export function parseSseRequest(query: string, lastEventIdHeader: string): SseRequest {
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    return { ok: false, error: 'invalid_filter', message: 'the query string could not be parsed' };
  }
  const filters = params.getAll('filter');
  if (filters.length === 0) return { ok: false, error: 'invalid_filter', message: 'give at least one filter: /sse?filter=<filter>&filter=<filter>' };
  const wheres = params.getAll('where');
  if (wheres.length > 1) return { ok: false, error: 'invalid_where', message: 'give at most one where (it applies to every filter)' };
  let where: unknown;
  if (wheres[0] !== undefined) {
    try {
      where = JSON.parse(wheres[0]);
    } catch {
      return { ok: false, error: 'invalid_where', message: 'where must be a URL-encoded JSON object' };
    }
  }
  const subscriptions: WireSubscription[] = [];
  for (const filter of filters) {
    const parsed = parseSubscription(filter, where);
    if (!parsed.ok) return { ok: false, error: parsed.code, message: parsed.message };
    if (!subscriptions.some((s) => s.id === parsed.subscription.id)) subscriptions.push(parsed.subscription);
  }
  const id = lastEventIdHeader !== '' ? lastEventIdHeader : (params.get('last_event_id') ?? '');
  if (id === '') return { ok: true, subscriptions, from: undefined };
  const from = parseEventId(id.trim());
  if (from === undefined) {
    return { ok: false, error: 'invalid_last_event_id', message: 'Last-Event-ID (or last_event_id) must be an event id of this stream: <epoch>/<offset>' };
  }
  return { ok: true, subscriptions, from };
}

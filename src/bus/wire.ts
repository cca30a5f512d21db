/**
 * Encoding of bus messages on a Redis pub/sub channel (written by the Lua scripts). A batch of
 * notifications (one message per publish call, however many notifications it holds) is
 *   'N' + record + ('\n' + record)*    where record = header + '\n' + frame
 *   header = {"o":offset,"p":prev,"k":[keys],"t":type,"s":sourceTime}
 * so a subscriber parses only the small headers and forwards the frame bytes untouched. JSON
 * never contains a raw newline (frames and headers are built by JSON.stringify), so newlines
 * delimit. 'n' + one record is the single-notification form (written by versions before 0.2).
 * A heartbeat is 'h' + {"e":epoch,"l":last,"leader":id,"at":ms}. The frame itself belongs to
 * protocol/frame.ts: the scripts close it with frame.ts's Lua expression, history reads with
 * frameWithOffset.
 *
 * Imports: bus/ types and protocol/ only; no I/O.
 */
import { frameWithOffset } from '../protocol/frame.js';
import type { BusHeartbeat, BusNotification } from './bus.js';

export type WireMessage = { kind: 'notifications'; items: BusNotification[] } | { kind: 'heartbeat'; h: BusHeartbeat };

const BATCH = 0x4e;
const N = 0x6e;
const H = 0x68;
const NEWLINE = 0x0a;

/** The header fields that do not depend on the offset, as a JSON fragment (no braces). */
export function metaFragment(keys: readonly string[], notificationType: string, sourceTime: number): string {
  return `"k":${JSON.stringify(keys)},"t":${JSON.stringify(notificationType)},"s":${Math.trunc(sourceTime)}`;
}

/** Decodes one history entry (XRANGE: id plus flat field list m, f, p); null if malformed. */
export function decodeStreamEntry(id: string, fields: string[]): BusNotification | null {
  let meta: string | undefined;
  let head: string | undefined;
  let prev: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const v = fields[i + 1];
    if (fields[i] === 'm') meta = v;
    else if (fields[i] === 'f') head = v;
    else if (fields[i] === 'p') prev = v;
  }
  if (meta === undefined || head === undefined || prev === undefined) return null;
  let h: unknown;
  try {
    h = JSON.parse(`{${meta}}`);
  } catch {
    return null;
  }
  if (!isMeta(h)) return null;
  return { offset: id, prev, keys: h.k, notificationType: h.t, sourceTime: h.s, frame: frameWithOffset(head, id) };
}

/** Decodes one pub/sub message; null for anything malformed (counted and logged by the caller). */
export function decodeWire(message: Buffer): WireMessage | null {
  try {
    if (message[0] === BATCH || message[0] === N) {
      const items: BusNotification[] = [];
      let at = 1;
      do {
        const nl = message.indexOf(NEWLINE, at);
        if (nl < 0) return null;
        let end = message[0] === BATCH ? message.indexOf(NEWLINE, nl + 1) : -1;
        if (end < 0) end = message.length;
        const h: unknown = JSON.parse(message.toString('utf8', at, nl));
        if (!isNotificationHeader(h)) return null;
        items.push({ offset: h.o, prev: h.p, keys: h.k, notificationType: h.t, sourceTime: h.s, frame: message.subarray(nl + 1, end) });
        at = end + 1;
      } while (at < message.length);
      return { kind: 'notifications', items };
    }
    if (message[0] === H) {
      const h: unknown = JSON.parse(message.toString('utf8', 1));
      if (!isHeartbeatBody(h)) return null;
      return { kind: 'heartbeat', h: { epoch: h.e, last: h.l, leader: h.leader, at: h.at } };
    }
  } catch {
    return null;
  }
  return null;
}

// Shape checks: a header with a missing or mistyped field must not reach the edge (for example,
// topicsFor(undefined) would throw inside the subscriber's event handler and end the process).
function isNotificationHeader(v: unknown): v is { o: string; p: string; k: string[]; t: string; s: number } {
  if (!isMeta(v)) return false;
  const h = v as unknown as Record<string, unknown>;
  return typeof h['o'] === 'string' && typeof h['p'] === 'string';
}

function isMeta(v: unknown): v is { k: string[]; t: string; s: number } {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return Array.isArray(h['k']) && h['k'].every((k) => typeof k === 'string') && typeof h['t'] === 'string' && typeof h['s'] === 'number';
}

function isHeartbeatBody(v: unknown): v is { e: string; l: string; leader: string; at: number } {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return typeof h['e'] === 'string' && typeof h['l'] === 'string' && typeof h['leader'] === 'string' && typeof h['at'] === 'number';
}

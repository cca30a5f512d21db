/**
 * The client frame of a notification (DESIGN §6): the one owner of its bytes.
 *
 * A frame is built in two steps, because the offset is known only once the bus has stored the
 * notification: the listener serializes the envelope once into a *head* (the frame without its
 * closing brace, `frameHead`), and whoever learns the offset closes it (`frameWithOffset`). The
 * Redis publish script closes frames inside Redis; it does not re-implement the format but embeds
 * the Lua expression `frameWithOffsetLua` generates from the same constants, and
 * test/integration/frame-agreement.test.ts checks byte for byte that both produce the same frame.
 * Edges forward the bytes as they are: a frame is serialized once, for every recipient.
 *
 * Imports: only protocol/ types (protocol/ is pure, no I/O).
 */
import type { Envelope } from './envelope.js';

/** What follows the head: the offset field, then the envelope's closing brace. */
const OFFSET_OPEN = ',"offset":"';
const OFFSET_CLOSE = '"}';

/**
 * The client frame without its closing brace. With `payloadJson` (the payload's own JSON text, no
 * raw newline: see envelope.BuiltEnvelope) the payload is embedded as it came, unparsed.
 */
export function frameHead(envelope: Envelope, payloadJson?: string): string {
  if (payloadJson === undefined) return JSON.stringify(envelope).slice(0, -1);
  const e = envelope;
  return `{"notification_type":${JSON.stringify(e.notification_type)},"entity_type":${JSON.stringify(e.entity_type)},"entity_id":${JSON.stringify(e.entity_id)},"user_id":${JSON.stringify(e.user_id)},"payload":${payloadJson},"timestamp":${JSON.stringify(e.timestamp)}`;
}

/** The complete client frame: `head` closed with its offset (a stream id, `<ms>-<seq>`). */
export function frameWithOffset(head: string, offset: string): string {
  return `${head}${OFFSET_OPEN}${offset}${OFFSET_CLOSE}`;
}

/**
 * `frameWithOffset` as a Lua expression over two Lua variables, for the Redis scripts
 * (bus/redis-scripts.ts), so the script closes frames exactly as TypeScript does.
 */
export function frameWithOffsetLua(headVar: string, offsetVar: string): string {
  return `${headVar} .. ${luaString(OFFSET_OPEN)} .. ${offsetVar} .. ${luaString(OFFSET_CLOSE)}`;
}

/** A Lua single-quoted literal; the constants above hold no quote, backslash or newline. */
function luaString(s: string): string {
  if (/['\\\n\r]/.test(s)) throw new Error(`frame constant needs Lua escaping: ${s}`);
  return `'${s}'`;
}

/**
 * Reading a notifier frame without parsing its JSON: whether it is a control message, the `seq`
 * the storm producer put in its payload, and its `offset` (needed only when resuming, so read
 * lazily from the last frame kept).
 */

const SEQ = Buffer.from('"seq":');
const OFFSET = Buffer.from('"offset":"');
const T = 0x74; // 't' of {"type":…; a notification starts {"notification_type":…

/** A control message ({"type":…}: welcome, subscribed, resumed, reset, error, pong). */
export function isControl(frame: Buffer): boolean {
  return frame.length > 2 && frame[2] === T;
}

/** The first non-negative integer after `"seq":`; -1 when there is none. */
export function seqOf(frame: Buffer): number {
  const at = frame.indexOf(SEQ);
  if (at < 0) return -1;
  let i = at + SEQ.length;
  let n = 0;
  let digits = 0;
  for (; i < frame.length; i++) {
    const c = frame[i] as number;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? -1 : n;
}

/** The envelope's `offset` (its last "offset" key: it follows the payload); '' when absent. */
export function offsetOf(frame: Buffer): string {
  const at = frame.lastIndexOf(OFFSET);
  if (at < 0) return '';
  const start = at + OFFSET.length;
  const end = frame.indexOf(0x22, start);
  return end < 0 ? '' : frame.toString('latin1', start, end);
}

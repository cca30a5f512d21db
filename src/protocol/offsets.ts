/**
 * Offsets are Redis stream ids, `<ms>-<seq>`, opaque to clients. Within one epoch they increase
 * in publication order; "0-0" is the position before the first notification.
 */
export const ZERO_OFFSET = '0-0';

const OFFSET = /^(\d{1,16})-(\d{1,16})$/;

export function isOffset(s: unknown): s is string {
  return typeof s === 'string' && OFFSET.test(s);
}

/** Negative, zero or positive as a is before, equal to or after b. Both must be valid offsets. */
export function compareOffsets(a: string, b: string): number {
  const [am, as] = split(a);
  const [bm, bs] = split(b);
  return am === bm ? as - bs : am - bm;
}

function split(o: string): [number, number] {
  const dash = o.indexOf('-');
  return [Number(o.slice(0, dash)), Number(o.slice(dash + 1))];
}

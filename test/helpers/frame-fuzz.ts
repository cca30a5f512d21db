/**
 * The frame parser under fast-check (issue 14 §8), shared by the quick unit run
 * (test/unit/frame-fuzz.test.ts, 10,000 cases) and the long one (bench/fuzz/frames.ts, 100,000).
 *
 * Inputs: arbitrary strings and bytes (invalid UTF-8 included), arbitrary JSON values, and
 * near-valid frames: the right keys with wrong types, huge numbers and digit strings, deep
 * nesting, `__proto__` / `constructor` keys, lone surrogates (raw and as JSON escapes), NUL and
 * other control characters, too many filters, duplicates, byte-level corruption of valid frames.
 *
 * The property (checkFrame): parseClientFrame never throws; it returns a request that is valid by
 * the protocol's own rules, or an error whose code is one the parser documents, with a short
 * message; and the reply the edge would send for it serializes.
 */
import fc from 'fast-check';
import { parseFilter } from '../../src/protocol/filters.js';
import {
  ErrorCode,
  MAX_RESUME_FILTERS,
  errorMessage,
  parseClientFrame,
  subscribedMessage,
  unsubscribedMessage,
  type ParseResult,
} from '../../src/protocol/messages.js';
import { isOffset } from '../../src/protocol/offsets.js';
import type { WireSubscription } from '../../src/protocol/subscription.js';

/** The codes parseClientFrame may return (the others in ErrorCode are the session's). */
export const PARSER_ERROR_CODES: ReadonlySet<string> = new Set([
  ErrorCode.InvalidJson,
  ErrorCode.InvalidMessage,
  ErrorCode.UnknownType,
  ErrorCode.InvalidFilter,
  ErrorCode.InvalidWhere,
  ErrorCode.InvalidResume,
]);
/** Longest error message: the longest echo (a 256-character filter) plus the explanation. */
const MAX_MESSAGE_LENGTH = 512;

const KEYS: Record<string, readonly string[]> = {
  ping: ['type'],
  subscribe: ['type', 'subscription'],
  unsubscribe: ['type', 'subscription'],
  resume: ['type', 'epoch', 'offset', 'subscriptions'],
};

/** A parsed subscription: a valid filter, and its id names exactly it and its predicate's key. */
function checkSubscription(sub: WireSubscription, m: unknown): void {
  if (!parseFilter(sub.filter).ok) fail('request carries an invalid filter', m);
  if (sub.id !== (sub.where === undefined ? sub.filter : `${sub.filter}\u001f${sub.where.key}`)) fail('subscription id', m);
}

/** Throws (with the input) unless the parse result is a valid request or a documented error. */
export function checkFrame(input: string | ArrayBuffer): ParseResult {
  const r = parseClientFrame(input);
  if (r.ok) {
    const m = r.message;
    const keys = KEYS[m.type];
    if (keys === undefined || JSON.stringify(Object.keys(m)) !== JSON.stringify(keys)) fail('request has unexpected keys', m);
    if (Object.getPrototypeOf(m) !== Object.prototype) fail('request is not a plain object', m);
    if (m.type === 'subscribe' || m.type === 'unsubscribe') {
      checkSubscription(m.subscription, m);
      (m.type === 'subscribe' ? subscribedMessage : unsubscribedMessage)(m.subscription.id);
    } else if (m.type === 'resume') {
      if (typeof m.epoch !== 'string' || m.epoch.length > 128) fail('resume epoch', m);
      if (!isOffset(m.offset)) fail('resume offset', m);
      if (!Array.isArray(m.subscriptions) || m.subscriptions.length > MAX_RESUME_FILTERS) fail('resume filters', m);
      if (new Set(m.subscriptions.map((x) => x.id)).size !== m.subscriptions.length) fail('resume filters repeat', m);
      for (const sub of m.subscriptions) checkSubscription(sub, m);
    }
  } else {
    if (!PARSER_ERROR_CODES.has(r.code)) fail('undocumented error code', r);
    if (typeof r.message !== 'string' || r.message.length === 0 || r.message.length > MAX_MESSAGE_LENGTH) fail('error message', r);
    JSON.parse(errorMessage(r.code, r.message));
  }
  return r;
}

function fail(what: string, value: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(value)?.slice(0, 300)}`);
}

/** The bytes of a string, in a fresh ArrayBuffer as uWebSockets.js hands them over. */
export function bytes(view: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(view.byteLength);
  new Uint8Array(out).set(view);
  return out;
}
const utf8 = (s: string) => bytes(new TextEncoder().encode(s));

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const control = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
/** Strings with the characters parsers trip on. */
const nastyString = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), loneSurrogate, control, fc.constantFrom('\u0000', '\u007f', '\ufeff', '\u2028', '"', '\\', ':', '*', '__proto__')), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''));
const hugeNumber = fc.oneof(
  fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER + 2, 1e308, 5e-324, -0),
  fc.double(),
  fc.bigInt().map((b) => Number(b)),
);
const digits = fc.stringMatching(/^[0-9]{1,40}$/);
const validFilter = fc.oneof(
  fc.constantFrom('all', 'entity_type:execution', 'entity:execution:123', 'user:456', 'notification_type:x'),
  fc.string({ maxLength: 300 }).map((s) => `user:${s}`),
  nastyString.map((s) => `entity_type:${s}`),
);
/** Wrong and right values for any field. */
const field = fc.oneof(
  validFilter,
  nastyString,
  hugeNumber,
  digits,
  fc.constantFrom(null, true, false, '', [], {}, '0-0', '1795397173739-0'),
  fc.tuple(digits, digits).map(([a, b]) => `${a}-${b}`),
  fc.array(validFilter, { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
);
const typeValue = fc.oneof(
  fc.constantFrom('subscribe', 'unsubscribe', 'ping', 'resume', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'PING', 'subscribe\u0000', 'subscribe '),
  field,
);
/** JSON text of a near-valid frame; keys may repeat (the last one wins in JSON.parse). */
const nearValid = fc
  .tuple(
    typeValue,
    fc.array(fc.tuple(fc.constantFrom('filter', 'epoch', 'offset', 'filters', 'type', '__proto__', 'constructor', 'prototype', 'filter\u0000'), field), { maxLength: 6 }),
  )
  .map(([type, fields]) => `{${[['type', type] as const, ...fields].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);
/** `resume` frames with long, duplicated or bad filter lists. */
const resumeFrames = fc
  .tuple(fc.oneof(fc.string({ maxLength: 140 }), field), fc.oneof(fc.tuple(digits, digits).map(([a, b]) => `${a}-${b}`), field), fc.oneof(fc.array(validFilter, { maxLength: 20 }), fc.nat({ max: 1500 }).map((n) => Array.from({ length: n }, (_, i) => `user:${i % 700}`))))
  .map(([epoch, offset, filters]) => JSON.stringify({ type: 'resume', epoch, offset, filters }));
/** A valid subscribe whose value sits under deep nesting, or deep nesting alone. */
const deep = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":'), fc.boolean())
  .map(([depth, open, wrapped]) => {
    const close = open === '[' ? ']' : '}';
    const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
    return wrapped ? `{"type":"subscribe","filter":${nested}}` : nested;
  });
/** JSON escapes the JSON text may carry: lone surrogates, NUL, escaped quotes. */
const escapedFrames = fc
  .tuple(fc.constantFrom('subscribe', 'unsubscribe'), fc.constantFrom('user:', 'entity_type:', 'entity:a:', ''), fc.array(fc.constantFrom('\\ud800', '\\udfff', '\\u0000', '\\"', '\\\\', 'a', '\\ud83d\\ude00', '\\u2028'), { maxLength: 6 }))
  .map(([type, kind, parts]) => `{"type":"${type}","filter":"${kind}${parts.join('')}"}`);

const textFrames = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 2 },
  { arbitrary: nastyString, weight: 1 },
  { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: nearValid, weight: 6 },
  { arbitrary: resumeFrames, weight: 2 },
  { arbitrary: deep, weight: 1 },
  { arbitrary: escapedFrames, weight: 2 },
);
/** Valid-looking frames with some bytes overwritten (invalid UTF-8 and broken JSON). */
const corrupted = fc
  .tuple(nearValid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
  .map(([text, edits]) => {
    const b = new TextEncoder().encode(text);
    for (const [at, byte] of edits) b[at % b.length] = byte;
    return bytes(b);
  });

/** Every input: a string as a transport hands text, or an ArrayBuffer as uWS does. */
export const frameInput: fc.Arbitrary<string | ArrayBuffer> = fc.oneof(
  { arbitrary: textFrames, weight: 6 },
  { arbitrary: textFrames.map(utf8), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map(bytes), weight: 1 },
  { arbitrary: corrupted, weight: 1 },
);

/** Both forms of a text frame give the same result (the string a transport hands, the bytes uWS does). */
export function checkBothForms(text: string): void {
  const a = checkFrame(text);
  const b = checkFrame(utf8(text));
  if (JSON.stringify(a) !== JSON.stringify(b)) fail('string and bytes disagree', { text, a, b });
}

export const FUZZ_SEED = 14;

import { compileWhere } from '../../src/client/where.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import {
  MAX_IN_VALUES,
  MAX_LEAVES,
  MAX_OPERAND_LENGTH,
  MAX_PATH_DEPTH,
  MAX_PATH_LENGTH,
  MAX_WHERE_KEY_LENGTH,
  parseWhere,
  type CompiledPredicate,
} from '../../src/protocol/predicates.js';

const SEED = 20_150_415;

function compile(where: unknown): CompiledPredicate {
  const r = parseWhere(where);
  if (!r.ok) throw new Error(r.message);
  return r.predicate;
}

function why(where: unknown): string {
  const r = parseWhere(where);
  return r.ok ? 'accepted' : r.message;
}

function keyOf(where: unknown): string {
  const r = parseWhere(where);
  if (!r.ok) throw new Error(r.message);
  return r.key;
}

/** An envelope as the edge builds it, from a payload object. */
function env(payload: unknown, channel = 'enforcement_events'): Record<string, unknown> {
  return { ...envelopeFromValue(channel, payload, new Date('2024-05-01T12:00:00.000Z')).envelope, offset: '1-0' };
}

// ---------------------------------------------------------------------------------------------
// Reference evaluator: written from the documented semantics, sharing no code with the module.
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function plainObject(v: unknown): v is Record<string, unknown> {
  return Object.prototype.toString.call(v) === '[object Object]';
}

function own(o: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** The value a path names, null when it names nothing. */
function refLookup(envelope: Record<string, unknown>, path: string): unknown {
  const [head, ...tail] = path.split('.');
  let node: unknown;
  if (own(envelope, head!)) node = envelope[head!];
  else if (plainObject(envelope['payload']) && own(envelope['payload'], head!)) node = envelope['payload'][head!];
  else return null;
  for (const seg of tail) {
    if (!plainObject(node) || !own(node, seg)) return null;
    node = node[seg];
  }
  return node === undefined ? null : node;
}

function refEq(v: unknown, operand: unknown): boolean {
  const scalar = v === null || ['string', 'number', 'boolean'].includes(typeof v);
  return scalar && typeof v === typeof operand && JSON.stringify(v) === JSON.stringify(operand);
}

function refOp(op: string, operand: unknown, v: unknown): boolean {
  switch (op) {
    case 'eq':
      return refEq(v, operand);
    case 'neq':
      return !refEq(v, operand);
    case 'in':
      return (operand as unknown[]).some((x) => refEq(v, x));
    case 'nin':
      return !(operand as unknown[]).some((x) => refEq(v, x));
    case 'exists':
      return operand === (v !== null);
    case 'prefix':
      return typeof v === 'string' && v.slice(0, (operand as string).length) === operand;
    default: {
      if (typeof v !== typeof operand || (typeof v !== 'number' && typeof v !== 'string')) return false;
      const a = v as number | string;
      const b = operand as number | string;
      if (op === 'gt') return a > b;
      if (op === 'gte') return a > b || a === b;
      if (op === 'lt') return a < b;
      if (op === 'lte') return a < b || a === b;
      throw new Error(`reference: unknown op ${op}`);
    }
  }
}

function refTest(where: Record<string, Record<string, unknown>>, envelope: unknown): boolean {
  if (!plainObject(envelope)) return false;
  return Object.entries(where).every(([path, ops]) => Object.entries(ops).every(([op, operand]) => refOp(op, operand, refLookup(envelope, path))));
}

// ---------------------------------------------------------------------------------------------
// Generators: small pools of names and values, so that predicates often hit.
// ---------------------------------------------------------------------------------------------

const NAMES = ['status', 'rule', 'n', 'a', 'payload', 'entity_type', 'user_id', 'timestamp', 'offset'] as const;
const name = fc.constantFrom(...NAMES);
const text = fc.constantFrom('failed', 'timeout', 'core.x', 'core', 'c', '', 'A', 'é', '2024-05-01T12:00:00.000Z', '2025-01-01T00:00:00.000Z');
const num = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(-0, 0.5, 1e21, -1e-7), fc.double({ noNaN: true, noDefaultInfinity: true }));
const scalar: fc.Arbitrary<string | number | boolean | null> = fc.oneof(text, num, fc.boolean(), fc.constant(null));

const tree = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(name, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const isoTime = fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => new Date(ms).toISOString());

const envelope = fc.oneof(
  // as the edge builds them (some payload fields are lifted to the top level)
  fc.tuple(fc.dictionary(name, tree, { maxKeys: 6 }), fc.constantFrom('enforcement_events', 'jobs')).map(([p, ch]) => env(p, ch)),
  // arbitrary top levels: missing fields, a payload that is not an object…
  fc.record(
    { notification_type: text, entity_type: fc.oneof(text, fc.constant(null)), entity_id: scalar, user_id: scalar, payload: tree, timestamp: isoTime, offset: text },
    { requiredKeys: [] },
  ),
  fc.dictionary(name, tree, { maxKeys: 5 }),
);

const path = fc.array(name, { minLength: 1, maxLength: MAX_PATH_DEPTH }).map((segs) => segs.join('.'));
const operation = fc.oneof(
  fc.tuple(fc.constantFrom('eq', 'neq'), scalar),
  fc.tuple(fc.constantFrom('in', 'nin'), fc.array(scalar, { minLength: 1, maxLength: 5 })),
  fc.tuple(fc.constant('exists'), fc.boolean()),
  fc.tuple(fc.constantFrom('gt', 'gte', 'lt', 'lte'), fc.oneof(text, num)),
  fc.tuple(fc.constant('prefix'), text),
);
const ops = fc.uniqueArray(operation, { minLength: 1, maxLength: 3, selector: (o) => o[0] }).map((list) => Object.fromEntries(list) as Record<string, unknown>);
const where = fc.dictionary(path, ops, { minKeys: 1, maxKeys: 5 });

function shuffled<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The same predicate written in another order: paths, operators and list values. */
function reordered(w: Record<string, Record<string, unknown>>, seed: number): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    shuffled(Object.entries(w), seed).map(([p, o]) => [
      p,
      Object.fromEntries(shuffled(Object.entries(o), seed + 1).map(([op, v]) => [op, Array.isArray(v) ? shuffled(v, seed + 2) : v])),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------

describe('predicate evaluation agrees with the reference evaluator', () => {
  it('on random envelopes and predicates (10,000 cases, fixed seed)', () => {
    fc.assert(
      fc.property(where, fc.array(envelope, { minLength: 1, maxLength: 4 }), (w, envelopes) => {
        const r = parseWhere(w);
        expect(r.ok, r.ok ? '' : r.message).toBe(true);
        if (!r.ok) return;
        for (const e of envelopes) expect(r.predicate.test(e)).toBe(refTest(w, e));
        // Each leaf alone too: a conjunction of many leaves is mostly false, so this is where they differ.
        for (const [p, o] of Object.entries(w)) {
          for (const [op, operand] of Object.entries(o)) {
            const single = compile({ [p]: { [op]: operand } });
            for (const e of envelopes) expect(single.test(e), `${p} ${op} ${JSON.stringify(operand)}`).toBe(refTest({ [p]: { [op]: operand } }, e));
          }
        }
      }),
      { numRuns: 10_000, seed: SEED },
    );
  });

  it('a reordered predicate has the same key and the same results; the key re-parses to itself', () => {
    fc.assert(
      fc.property(where, fc.integer(), fc.array(envelope, { minLength: 1, maxLength: 3 }), (w, seed, envelopes) => {
        const a = parseWhere(w);
        const b = parseWhere(reordered(w, seed));
        if (!a.ok || !b.ok) throw new Error('refused');
        expect(b.key).toBe(a.key);
        const c = parseWhere(JSON.parse(a.key));
        if (!c.ok) throw new Error('canonical key refused');
        expect(c.key).toBe(a.key);
        for (const e of envelopes) {
          expect(b.predicate.test(e)).toBe(a.predicate.test(e));
          expect(c.predicate.test(e)).toBe(a.predicate.test(e));
        }
      }),
      { numRuns: 2_000, seed: SEED },
    );
  });
});

describe("the SDK's own predicates (src/client/where.ts) agree with the edge's", () => {
  it('same canonical key, however written, and the same result on random envelopes (5,000 cases)', () => {
    fc.assert(
      fc.property(where, fc.integer(), fc.array(envelope, { minLength: 1, maxLength: 4 }), (w, seed, envelopes) => {
        const edge = parseWhere(w);
        if (!edge.ok) throw new Error(edge.message);
        const sdk = compileWhere(reordered(w, seed));
        expect(sdk.key).toBe(edge.key);
        for (const e of envelopes) expect(sdk.test(e)).toBe(edge.predicate.test(e));
        for (const [p, o] of Object.entries(w)) {
          for (const [op, operand] of Object.entries(o)) {
            const single = { [p]: { [op]: operand } };
            for (const e of envelopes) expect(compileWhere(single).test(e), `${p} ${op} ${JSON.stringify(operand)}`).toBe(compile(single).test(e));
          }
        }
      }),
      { numRuns: 5_000, seed: SEED },
    );
  });

  it('refuses a wrong shape with a TypeError', () => {
    expect(() => compileWhere('x')).toThrow(TypeError);
    expect(() => compileWhere({ status: 'failed' })).toThrow(/must be an object of operators/);
    expect(() => compileWhere({ status: { like: 'f' } })).toThrow(/unknown operator "like"/);
  });
});

describe('operators', () => {
  const e = env({ status: 'failed', rule: 'core.x', n: 5, flag: false, nothing: null, entity_type: 'enforcement', entity_id: 42, nested: { a: { b: 'deep' } }, list: [1, 2] });

  it('eq / neq: strict (types included); absent is null', () => {
    expect(compile({ status: { eq: 'failed' } }).test(e)).toBe(true);
    expect(compile({ 'payload.status': { eq: 'failed' } }).test(e)).toBe(true);
    expect(compile({ status: { eq: 'timeout' } }).test(e)).toBe(false);
    expect(compile({ entity_id: { eq: 42 } }).test(e)).toBe(true);
    expect(compile({ entity_id: { eq: '42' } }).test(e)).toBe(false);
    expect(compile({ flag: { eq: false } }).test(e)).toBe(true);
    expect(compile({ nothing: { eq: null } }).test(e)).toBe(true);
    expect(compile({ missing: { eq: null } }).test(e)).toBe(true);
    expect(compile({ status: { neq: 'timeout' } }).test(e)).toBe(true);
    expect(compile({ status: { neq: 'failed' } }).test(e)).toBe(false);
    expect(compile({ missing: { neq: 'x' } }).test(e)).toBe(true);
    expect(compile({ nested: { eq: null } }).test(e)).toBe(false); // an object is neither null nor a scalar
    expect(compile({ n: { eq: -0 } }).test(env({ n: 0 }))).toBe(true);
  });

  it('in / nin', () => {
    expect(compile({ status: { in: ['failed', 'timeout'] } }).test(e)).toBe(true);
    expect(compile({ status: { in: ['ok'] } }).test(e)).toBe(false);
    expect(compile({ entity_id: { in: ['42'] } }).test(e)).toBe(false);
    expect(compile({ entity_id: { in: [42, '42'] } }).test(e)).toBe(true);
    expect(compile({ missing: { in: [null] } }).test(e)).toBe(true);
    expect(compile({ status: { nin: ['ok', 'timeout'] } }).test(e)).toBe(true);
    expect(compile({ status: { nin: ['failed'] } }).test(e)).toBe(false);
    expect(compile({ missing: { nin: ['failed'] } }).test(e)).toBe(true);
  });

  it('exists: not null and not absent', () => {
    expect(compile({ status: { exists: true } }).test(e)).toBe(true);
    expect(compile({ flag: { exists: true } }).test(e)).toBe(true);
    expect(compile({ nothing: { exists: true } }).test(e)).toBe(false);
    expect(compile({ missing: { exists: true } }).test(e)).toBe(false);
    expect(compile({ missing: { exists: false } }).test(e)).toBe(true);
    expect(compile({ user_id: { exists: false } }).test(e)).toBe(true); // the envelope's user_id is null
    expect(compile({ nested: { exists: true } }).test(e)).toBe(true);
  });

  it('gt / gte / lt / lte: numbers with numbers, strings with strings, nothing else', () => {
    expect(compile({ n: { gt: 4 } }).test(e)).toBe(true);
    expect(compile({ n: { gt: 5 } }).test(e)).toBe(false);
    expect(compile({ n: { gte: 5 } }).test(e)).toBe(true);
    expect(compile({ n: { lt: 5 } }).test(e)).toBe(false);
    expect(compile({ n: { lte: 5 } }).test(e)).toBe(true);
    expect(compile({ n: { gte: 1, lt: 10 } }).test(e)).toBe(true);
    expect(compile({ n: { gt: '4' } }).test(e)).toBe(false); // no coercion
    expect(compile({ status: { gt: 1 } }).test(e)).toBe(false);
    expect(compile({ missing: { lt: 1 } }).test(e)).toBe(false);
    expect(compile({ timestamp: { gte: '2024-05-01T00:00:00.000Z' } }).test(e)).toBe(true);
    expect(compile({ timestamp: { lt: '2024-05-01T12:00:00.000Z' } }).test(e)).toBe(false);
    expect(compile({ timestamp: { lte: '2024-05-01T12:00:00.000Z' } }).test(e)).toBe(true);
    expect(compile({ status: { gt: 'f', lt: 'g' } }).test(e)).toBe(true);
  });

  it('prefix: strings only', () => {
    expect(compile({ rule: { prefix: 'core.' } }).test(e)).toBe(true);
    expect(compile({ rule: { prefix: 'core.x.y' } }).test(e)).toBe(false);
    expect(compile({ rule: { prefix: '' } }).test(e)).toBe(true);
    expect(compile({ n: { prefix: '5' } }).test(e)).toBe(false);
    expect(compile({ missing: { prefix: '' } }).test(e)).toBe(false);
  });

  it('paths: top level first, then payload; members of objects only; leaves AND-ed', () => {
    expect(compile({ entity_type: { eq: 'enforcement' } }).test(e)).toBe(true);
    expect(compile({ notification_type: { eq: 'enforcement_events' } }).test(e)).toBe(true);
    expect(compile({ offset: { eq: '1-0' } }).test(e)).toBe(true);
    expect(compile({ 'nested.a.b': { eq: 'deep' } }).test(e)).toBe(true);
    expect(compile({ 'payload.nested.a': { exists: true } }).test(e)).toBe(true);
    expect(compile({ 'list.0': { exists: true } }).test(e)).toBe(false); // arrays are not traversed
    expect(compile({ 'status.length': { exists: true } }).test(e)).toBe(false); // nor strings
    // The top level wins: entity_type here is the envelope's (null), not the payload's.
    const shadow = { notification_type: 'c', entity_type: null, payload: { entity_type: 'x' } };
    expect(compile({ entity_type: { eq: 'x' } }).test(shadow)).toBe(false);
    expect(compile({ 'payload.entity_type': { eq: 'x' } }).test(shadow)).toBe(true);
    expect(compile({ status: { eq: 'failed' }, 'payload.rule': { eq: 'core.x' } }).test(e)).toBe(true);
    expect(compile({ status: { eq: 'failed' }, 'payload.rule': { eq: 'core.y' } }).test(e)).toBe(false);
    // A payload that is not an object reaches nothing but itself.
    expect(compile({ payload: { eq: 'plain text' } }).test(env('plain text'))).toBe(true);
    expect(compile({ status: { exists: false } }).test(env('plain text'))).toBe(true);
  });

  it('the issue example', () => {
    const p = compile({ status: { in: ['failed', 'timeout'] }, 'payload.rule': { eq: 'core.x' } });
    expect(p.test(env({ status: 'timeout', rule: 'core.x' }))).toBe(true);
    expect(p.test(env({ status: 'ok', rule: 'core.x' }))).toBe(false);
    expect(p.test(env({ status: 'failed' }))).toBe(false);
    expect(p.leaves).toBe(2);
  });
});

describe('parseWhere refuses, saying what to do', () => {
  it('shapes', () => {
    for (const raw of [undefined, null, 'status', 42, [], [{ status: { eq: 1 } }]]) expect(why(raw)).toMatch(/^where must be an object of paths to operators, e\.g\./);
    expect(why({})).toMatch(/must not be empty: omit it/);
    expect(why({ status: 'failed' })).toMatch(/^where "status" must be an object of operators, e\.g\. \{"eq": "failed"\}/);
    expect(why({ status: ['failed'] })).toMatch(/must be an object of operators/);
    expect(why({ status: {} })).toMatch(/^where "status" has no operator: give one of eq, neq, in, nin, exists, gt, gte, lt, lte, prefix$/);
    expect(why({ status: { equals: 'x' } })).toMatch(/^where "status": unknown operator "equals"; use one of eq, neq/);
    expect(why({ payload: { rule: { eq: 'x' } } })).toMatch(/unknown operator "rule".*written with dots, e\.g\. "payload\.a\.b"/);
  });

  it('operand types', () => {
    expect(why({ s: { eq: { a: 1 } } })).toBe('where "s" eq takes a string, number, boolean or null');
    expect(why({ s: { neq: [1] } })).toBe('where "s" neq takes a string, number, boolean or null');
    expect(why({ s: { eq: Number.NaN } })).toMatch(/takes a string, number, boolean or null/);
    expect(why({ s: { eq: Infinity } })).toMatch(/takes a string, number, boolean or null/);
    expect(why({ s: { in: 'failed' } })).toMatch(/^where "s" in takes a list of values, e\.g\. \["failed", "timeout"\]$/);
    expect(why({ s: { nin: [] } })).toBe('where "s" nin needs at least one value');
    expect(why({ s: { in: [{}] } })).toBe('where "s" in: each value must be a string, number, boolean or null');
    expect(why({ s: { exists: 'yes' } })).toBe('where "s" exists takes true or false');
    expect(why({ s: { gt: true } })).toMatch(/^where "s" gt takes a number, or a string \(compared as text, e\.g\. an ISO-8601 UTC timestamp\)$/);
    expect(why({ s: { lte: null } })).toMatch(/lte takes a number, or a string/);
    expect(why({ s: { prefix: 1 } })).toBe('where "s" prefix takes a string');
  });

  it('paths', () => {
    expect(why({ '': { eq: 1 } })).toBe('where: a path must not be empty');
    expect(why({ 'a..b': { eq: 1 } })).toMatch(/has an empty segment: write names separated by single dots/);
    expect(why({ '.a': { eq: 1 } })).toMatch(/has an empty segment/);
    expect(why({ 'a.': { eq: 1 } })).toMatch(/has an empty segment/);
    expect(why({ 'a\nb': { eq: 1 } })).toMatch(/must not contain control characters/);
    for (const seg of ['__proto__', 'constructor', 'prototype']) {
      expect(why({ [`payload.${seg}`]: { eq: 1 } })).toBe(`where: path "payload.${seg}": segment "${seg}" is not allowed`);
      expect(why({ [seg]: { eq: 1 } })).toMatch(/is not allowed/);
    }
    // JSON.parse makes "__proto__" an own key, unlike an object literal.
    expect(why(JSON.parse('{"__proto__": {"eq": 1}}'))).toMatch(/segment "__proto__" is not allowed/);
  });

  it('limits, each named', () => {
    expect(why({ 'payload.a.b': { eq: 1 } })).toBe('accepted');
    expect(why({ 'payload.a.b.c': { eq: 1 } })).toBe(`where: path "payload.a.b.c" has 4 segments; at most ${MAX_PATH_DEPTH} (depth limit), e.g. "payload.a.b"`);
    const leaves = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, { eq: i }]));
    expect(why(leaves(MAX_LEAVES))).toBe('accepted');
    expect(why(leaves(MAX_LEAVES + 1))).toBe(`where has ${MAX_LEAVES + 1} paths; at most ${MAX_LEAVES} leaves (conditions) in all`);
    const many = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}`, { gt: 0, lt: 9, neq: 4 }])); // 18 leaves on 6 paths
    expect(why(many)).toBe(`where has more than ${MAX_LEAVES} leaves (conditions); at most ${MAX_LEAVES}`);
    expect(why({ s: { eq: 'x'.repeat(MAX_OPERAND_LENGTH) } })).toBe('accepted');
    expect(why({ s: { eq: 'x'.repeat(MAX_OPERAND_LENGTH + 1) } })).toBe(`where "s" eq: strings are at most ${MAX_OPERAND_LENGTH} characters`);
    expect(why({ s: { in: ['a', 'x'.repeat(MAX_OPERAND_LENGTH + 1)] } })).toMatch(/in: strings are at most 256 characters/);
    expect(why({ s: { prefix: 'x'.repeat(MAX_OPERAND_LENGTH + 1) } })).toMatch(/prefix: strings are at most/);
    expect(why({ s: { gt: 'x'.repeat(MAX_OPERAND_LENGTH + 1) } })).toMatch(/gt: strings are at most/);
    expect(why({ s: { in: Array.from({ length: MAX_IN_VALUES }, (_, i) => i) } })).toBe('accepted');
    expect(why({ s: { in: Array.from({ length: MAX_IN_VALUES + 1 }, (_, i) => i) } })).toBe(`where "s" in has ${MAX_IN_VALUES + 1} values; at most ${MAX_IN_VALUES}`);
    expect(why({ [`a${'x'.repeat(MAX_PATH_LENGTH)}`]: { eq: 1 } })).toMatch(new RegExp(`is longer than ${MAX_PATH_LENGTH} characters`));
    const big = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`f${i}`, { in: Array.from({ length: 40 }, (_, j) => `${j}`.padEnd(200, 'x')) }]));
    expect(why(big)).toMatch(new RegExp(`^where is too large: \\d+ characters in canonical form; at most ${MAX_WHERE_KEY_LENGTH}$`));
  });

  it('long names are shortened in messages', () => {
    const m = why({ ['x'.repeat(200)]: 'v' });
    expect(m).toContain('…');
    expect(m.length).toBeLessThan(200);
  });
});

describe('canonical keys', () => {
  it('do not depend on the order of paths, operators or list values', () => {
    const a = keyOf({ status: { in: ['timeout', 'failed'] }, 'payload.rule': { prefix: 'core.', neq: 'core.y' } });
    const b = keyOf({ 'payload.rule': { neq: 'core.y', prefix: 'core.' }, status: { in: ['failed', 'timeout', 'failed'] } });
    expect(a).toBe(b);
    expect(a).toBe('{"payload.rule":{"neq":"core.y","prefix":"core."},"status":{"in":["failed","timeout"]}}');
    expect(keyOf({ n: { eq: -0 } })).toBe(keyOf({ n: { eq: 0 } }));
    expect(keyOf({ n: { in: [1, '1', null, true] } })).toBe(keyOf({ n: { in: [true, null, '1', 1] } }));
  });

  it('differ when the predicates differ', () => {
    expect(keyOf({ n: { eq: 1 } })).not.toBe(keyOf({ n: { eq: '1' } }));
    expect(keyOf({ n: { eq: 1 } })).not.toBe(keyOf({ 'payload.n': { eq: 1 } }));
    expect(keyOf({ n: { in: [1] } })).not.toBe(keyOf({ n: { nin: [1] } }));
  });
});

describe('hostile inputs never throw', () => {
  it('parseWhere on anything (5,000 cases, fixed seed)', () => {
    fc.assert(
      fc.property(fc.anything({ withObjectString: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true }), (raw) => {
        const r = parseWhere(raw);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 5_000, seed: SEED },
    );
  });

  it('parseWhere on near-valid JSON (5,000 cases, fixed seed)', () => {
    const near = fc.dictionary(fc.oneof(path, fc.string({ maxLength: 8 })), fc.oneof(ops, fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }))), { maxKeys: 20 });
    fc.assert(
      fc.property(near, (raw) => {
        const r = parseWhere(raw);
        if (r.ok) expect(JSON.parse(r.key)).toBeTypeOf('object');
        else expect(r.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 5_000, seed: SEED },
    );
  });

  it('test on anything, including throwing getters and proxies', () => {
    const p = compile({ status: { eq: 'x' }, 'a.b': { exists: false }, n: { gt: 1 } });
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true, withBigInt: true, withTypedArray: true }), (raw) => {
        expect(typeof p.test(raw)).toBe('boolean');
        expect(typeof p.test({ payload: raw })).toBe('boolean');
        expect(typeof p.test({ status: raw, a: { b: raw }, n: raw })).toBe('boolean');
      }),
      { numRuns: 3_000, seed: SEED },
    );
    const throwing = Object.defineProperty({}, 'status', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(p.test(throwing)).toBe(false);
    expect(p.test({ payload: throwing })).toBe(false);
    const proxy = new Proxy({}, { getOwnPropertyDescriptor: () => { throw new Error('boom'); }, get: () => { throw new Error('boom'); } });
    expect(p.test(proxy)).toBe(false);
    expect(why(proxy)).toMatch(/^where must/);
    expect(why(Object.defineProperty({}, 'status', { enumerable: true, get() { throw new Error('boom'); } }))).toMatch(/^where must/);
    // Prototype members are never reached.
    expect(compile({ toString: { exists: true } }).test({})).toBe(false);
    expect(compile({ 'payload.hasOwnProperty': { exists: true } }).test({ payload: {} })).toBe(false);
    expect(compile({ x: { eq: 1 } }).test(Object.assign(Object.create({ x: 1 }) as object, { payload: Object.create({ x: 1 }) as object }))).toBe(false);
    expect(compile({ x: { eq: 1 } }).test(Object.assign(Object.create(null) as object, { x: 1 }))).toBe(true);
  });

  it('non-envelopes never match, even predicates absent values satisfy', () => {
    const p = compile({ status: { exists: false } });
    for (const raw of [undefined, null, 0, 'x', [], [{ status: 1 }], true]) expect(p.test(raw)).toBe(false);
    expect(p.test({})).toBe(true);
  });
});

/**
 * Payload predicates (issue 15 §4): a subscription's optional `where`, narrowing which
 * notifications it receives. Pure: parsed and compiled once (parseWhere), evaluated per
 * notification (CompiledPredicate.test). Predicates narrow what a client asked for; they are not
 * a security boundary (scopes are, scope.ts).
 *
 * Shape: `{"status": {"in": ["failed", "timeout"]}, "payload.rule": {"eq": "core.x"}}` — an
 * object mapping paths to objects of operators. Every (path, operator) pair is a leaf; all leaves
 * are AND-ed (several operators on one path too: `{"n": {"gte": 1, "lt": 5}}`). There is no OR
 * or NOT beyond `neq`/`nin`: subscribe twice for an OR.
 *
 * Paths: dot-separated names of object members, 1 to MAX_PATH_DEPTH segments as written. The
 * first segment is looked up in the envelope's top level (`notification_type`, `entity_type`,
 * `entity_id`, `user_id`, `payload`, `timestamp`, `offset`…), and when the envelope has no such
 * own member, in its `payload` (when that is an object) — as scope.ts notificationScopeKey does
 * for scope fields. So `status` is `payload.status`, while `entity_type` is always the envelope's
 * (which is null when the payload had none). Each further segment is an own member of an object;
 * arrays are not traversed (a segment never indexes one). A path that reaches nothing (missing
 * member, a non-object on the way) yields null: **absent and null are the same value**.
 *
 * Operators (value = what the path yields; "scalar" = string, finite number, boolean or null):
 * - `eq` scalar: value === operand, types included (`{"eq": 42}` does not match "42"; use
 *   `{"in": [42, "42"]}`). `{"eq": null}` matches null and absent.
 * - `neq` scalar: exactly `not eq` (so it matches an absent value).
 * - `in` non-empty list of scalars (at most MAX_IN_VALUES): eq one of them. `nin`: exactly `not in`.
 * - `exists` boolean: true ⇔ value is not null (nor absent); false ⇔ it is.
 * - `gt`, `gte`, `lt`, `lte` number or string: a number operand compares numbers only; a string
 *   operand compares strings only, by UTF-16 code units (JavaScript `<`), so ISO-8601 timestamps
 *   in one format and zone (`2024-05-01T12:00:00.000Z`, as the envelope's) compare as times. No
 *   date parsing, no coercion: another type never matches.
 * - `prefix` string: value is a string starting with it.
 *
 * Limits (each refusal names it): MAX_LEAVES leaves, MAX_PATH_DEPTH segments per path,
 * MAX_PATH_LENGTH characters per path, MAX_OPERAND_LENGTH characters per string operand,
 * MAX_IN_VALUES values per list, MAX_WHERE_KEY_LENGTH characters of canonical key. Path segments
 * `__proto__`, `constructor` and `prototype`, empty segments and control characters are refused.
 *
 * The canonical key (for interning) is JSON of the predicate with paths and operators sorted,
 * `in`/`nin` lists sorted and deduplicated, -0 written 0: equal predicates give equal keys,
 * whatever the order they were written in.
 *
 * Evaluation: predicate-eval.ts.
 *
 * Imports: protocol/ only (pure).
 */
import { isRecord, Op, Predicate, type CompiledPredicate, type Leaf, type Scalar } from './predicate-eval.js';

export type { CompiledPredicate, Scalar } from './predicate-eval.js';

export const MAX_LEAVES = 16;
export const MAX_PATH_DEPTH = 3;
export const MAX_PATH_LENGTH = 256;
export const MAX_OPERAND_LENGTH = 256;
export const MAX_IN_VALUES = 64;
export const MAX_WHERE_KEY_LENGTH = 8192;

export const OPERATORS = ['eq', 'neq', 'in', 'nin', 'exists', 'gt', 'gte', 'lt', 'lte', 'prefix'] as const;
export type Operator = (typeof OPERATORS)[number];

export type WhereParseResult =
  | { ok: true; predicate: CompiledPredicate; key: string }
  | { ok: false; message: string };

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const OPERATOR_SET: ReadonlySet<string> = new Set(OPERATORS);
const OPERATOR_LIST = OPERATORS.join(', ');

function shown(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** -0 becomes 0 (=== already equates them; the key must too). */
function normal<T extends Scalar>(v: T): T {
  return (v === 0 ? 0 : v) as T;
}

function checkPath(path: string): string | undefined {
  if (path.length === 0) return 'a path must not be empty';
  if (path.length > MAX_PATH_LENGTH) return `path ${shown(path)} is longer than ${MAX_PATH_LENGTH} characters`;
  if (CONTROL_CHARS.test(path)) return `path ${shown(path)} must not contain control characters`;
  const segments = path.split('.');
  if (segments.length > MAX_PATH_DEPTH) {
    return `path ${shown(path)} has ${segments.length} segments; at most ${MAX_PATH_DEPTH} (depth limit), e.g. "payload.a.b"`;
  }
  for (const seg of segments) {
    if (seg === '') return `path ${shown(path)} has an empty segment: write names separated by single dots, e.g. "payload.rule"`;
    if (FORBIDDEN_SEGMENTS.has(seg)) return `path ${shown(path)}: segment "${seg}" is not allowed`;
  }
  return undefined;
}

type OperandResult = { ok: true; op: Op; operand: Scalar; set?: Set<Scalar>; canonical: unknown } | { ok: false; message: string };

function stringOperandError(where: string, s: string): string | undefined {
  return s.length > MAX_OPERAND_LENGTH ? `${where}: strings are at most ${MAX_OPERAND_LENGTH} characters` : undefined;
}

function compileOperand(path: string, name: Operator, operand: unknown): OperandResult {
  const at = `where ${shown(path)} ${name}`;
  switch (name) {
    case 'eq':
    case 'neq': {
      if (!isScalar(operand)) return { ok: false, message: `${at} takes a string, number, boolean or null` };
      const long = typeof operand === 'string' ? stringOperandError(at, operand) : undefined;
      if (long !== undefined) return { ok: false, message: long };
      const v = normal(operand);
      return { ok: true, op: name === 'eq' ? Op.Eq : Op.Neq, operand: v, canonical: v };
    }
    case 'in':
    case 'nin': {
      if (!Array.isArray(operand)) return { ok: false, message: `${at} takes a list of values, e.g. ["failed", "timeout"]` };
      if (operand.length === 0) return { ok: false, message: `${at} needs at least one value` };
      if (operand.length > MAX_IN_VALUES) return { ok: false, message: `${at} has ${operand.length} values; at most ${MAX_IN_VALUES}` };
      const set = new Set<Scalar>();
      for (const item of operand as unknown[]) {
        if (!isScalar(item)) return { ok: false, message: `${at}: each value must be a string, number, boolean or null` };
        const long = typeof item === 'string' ? stringOperandError(at, item) : undefined;
        if (long !== undefined) return { ok: false, message: long };
        set.add(normal(item));
      }
      const canonical = [...set].map((v) => [JSON.stringify(v), v] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((p) => p[1]);
      return { ok: true, op: name === 'in' ? Op.In : Op.Nin, operand: null, set, canonical };
    }
    case 'exists':
      if (typeof operand !== 'boolean') return { ok: false, message: `${at} takes true or false` };
      return { ok: true, op: operand ? Op.Exists : Op.Absent, operand: null, canonical: operand };
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const numeric = typeof operand === 'number' && Number.isFinite(operand);
      if (!numeric && typeof operand !== 'string') {
        return { ok: false, message: `${at} takes a number, or a string (compared as text, e.g. an ISO-8601 UTC timestamp)` };
      }
      const long = typeof operand === 'string' ? stringOperandError(at, operand) : undefined;
      if (long !== undefined) return { ok: false, message: long };
      const ops = numeric ? { gt: Op.GtNum, gte: Op.GteNum, lt: Op.LtNum, lte: Op.LteNum } : { gt: Op.GtStr, gte: Op.GteStr, lt: Op.LtStr, lte: Op.LteStr };
      const v = normal(operand);
      return { ok: true, op: ops[name], operand: v, canonical: v };
    }
    case 'prefix': {
      if (typeof operand !== 'string') return { ok: false, message: `${at} takes a string` };
      const long = stringOperandError(at, operand);
      if (long !== undefined) return { ok: false, message: long };
      return { ok: true, op: Op.Prefix, operand, canonical: operand };
    }
  }
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Validates and compiles a subscription's `where` (a parsed JSON value). Never throws; a refusal
 * says what is wrong and what to write instead.
 */
export function parseWhere(raw: unknown): WhereParseResult {
  try {
    return parse(raw);
  } catch {
    // Only a hostile object (a throwing getter or proxy) gets here; JSON values never do.
    return { ok: false, message: 'where must be a JSON object' };
  }
}

function parse(raw: unknown): WhereParseResult {
  if (!isRecord(raw)) {
    return { ok: false, message: 'where must be an object of paths to operators, e.g. {"status": {"in": ["failed", "timeout"]}}' };
  }
  const paths = Object.keys(raw);
  if (paths.length === 0) return { ok: false, message: 'where must not be empty: omit it to receive every notification of the filter' };
  if (paths.length > MAX_LEAVES) return { ok: false, message: `where has ${paths.length} paths; at most ${MAX_LEAVES} leaves (conditions) in all` };
  paths.sort(byCodeUnits);
  const leaves: Leaf[] = [];
  const canonical: Record<string, Record<string, unknown>> = {};
  for (const path of paths) {
    const bad = checkPath(path);
    if (bad !== undefined) return { ok: false, message: `where: ${bad}` };
    const ops = raw[path];
    if (!isRecord(ops)) {
      return { ok: false, message: `where ${shown(path)} must be an object of operators, e.g. {"eq": "failed"} (operators: ${OPERATOR_LIST})` };
    }
    const names = Object.keys(ops);
    if (names.length === 0) return { ok: false, message: `where ${shown(path)} has no operator: give one of ${OPERATOR_LIST}` };
    names.sort(byCodeUnits);
    const [first, ...rest] = path.split('.') as [string, ...string[]];
    const canonicalOps: Record<string, unknown> = {};
    for (const name of names) {
      if (!OPERATOR_SET.has(name)) {
        return {
          ok: false,
          message: `where ${shown(path)}: unknown operator ${shown(name)}; use one of ${OPERATOR_LIST} (nested paths are written with dots, e.g. "payload.a.b")`,
        };
      }
      if (leaves.length === MAX_LEAVES) return { ok: false, message: `where has more than ${MAX_LEAVES} leaves (conditions); at most ${MAX_LEAVES}` };
      const compiled = compileOperand(path, name as Operator, ops[name]);
      if (!compiled.ok) return compiled;
      leaves.push({ first, rest, op: compiled.op, operand: compiled.operand, set: compiled.set });
      canonicalOps[name] = compiled.canonical;
    }
    canonical[path] = canonicalOps;
  }
  const key = JSON.stringify(canonical);
  if (key.length > MAX_WHERE_KEY_LENGTH) {
    return { ok: false, message: `where is too large: ${key.length} characters in canonical form; at most ${MAX_WHERE_KEY_LENGTH}` };
  }
  return { ok: true, predicate: new Predicate(leaves), key };
}

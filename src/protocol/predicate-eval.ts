/**
 * Evaluating compiled payload predicates (predicates.ts parses and compiles them): each leaf's
 * path resolved in the envelope (top level, then `payload`), its operator applied; all leaves
 * AND-ed. Paths are pre-split and `in` lists are Sets, so evaluation allocates nothing.
 *
 * Imports: nothing (pure).
 */

export type Scalar = string | number | boolean | null;

export interface CompiledPredicate {
  /** True when the envelope (any value; normally a notification envelope) satisfies every leaf. Never throws. */
  test(envelope: unknown): boolean;
  /** Number of (path, operator) leaves. */
  readonly leaves: number;
}

export const enum Op {
  Eq,
  Neq,
  In,
  Nin,
  Exists,
  Absent,
  GtNum,
  GteNum,
  LtNum,
  LteNum,
  GtStr,
  GteStr,
  LtStr,
  LteStr,
  Prefix,
}

export interface Leaf {
  readonly first: string;
  readonly rest: readonly string[];
  readonly op: Op;
  /** Scalar for Eq/Neq, number for numeric comparisons, string for string ones and Prefix. */
  readonly operand: Scalar;
  /** For In/Nin. */
  readonly set: ReadonlySet<Scalar> | undefined;
}

const hasOwn = Object.hasOwn;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a leaf's path yields: the value, or null when it reaches nothing. */
function resolve(top: Record<string, unknown>, first: string, rest: readonly string[]): unknown {
  let cur: unknown;
  if (hasOwn(top, first)) cur = top[first];
  else {
    const payload = top['payload'];
    if (!isRecord(payload) || !hasOwn(payload, first)) return null;
    cur = payload[first];
  }
  for (let i = 0; i < rest.length; i++) {
    if (!isRecord(cur)) return null;
    const seg = rest[i] as string;
    if (!hasOwn(cur, seg)) return null;
    cur = cur[seg];
  }
  return cur === undefined ? null : cur;
}

function leafHolds(leaf: Leaf, v: unknown): boolean {
  switch (leaf.op) {
    case Op.Eq:
      return v === leaf.operand;
    case Op.Neq:
      return v !== leaf.operand;
    case Op.In:
      return (leaf.set as ReadonlySet<unknown>).has(v);
    case Op.Nin:
      return !(leaf.set as ReadonlySet<unknown>).has(v);
    case Op.Exists:
      return v !== null;
    case Op.Absent:
      return v === null;
    case Op.GtNum:
      return typeof v === 'number' && v > (leaf.operand as number);
    case Op.GteNum:
      return typeof v === 'number' && v >= (leaf.operand as number);
    case Op.LtNum:
      return typeof v === 'number' && v < (leaf.operand as number);
    case Op.LteNum:
      return typeof v === 'number' && v <= (leaf.operand as number);
    case Op.GtStr:
      return typeof v === 'string' && v > (leaf.operand as string);
    case Op.GteStr:
      return typeof v === 'string' && v >= (leaf.operand as string);
    case Op.LtStr:
      return typeof v === 'string' && v < (leaf.operand as string);
    case Op.LteStr:
      return typeof v === 'string' && v <= (leaf.operand as string);
    case Op.Prefix:
      return typeof v === 'string' && v.startsWith(leaf.operand as string);
  }
}

export class Predicate implements CompiledPredicate {
  readonly leaves: number;
  constructor(private readonly list: readonly Leaf[]) {
    this.leaves = list.length;
  }

  test(envelope: unknown): boolean {
    if (!isRecord(envelope)) return false;
    try {
      const list = this.list;
      for (let i = 0; i < list.length; i++) {
        const leaf = list[i] as Leaf;
        if (!leafHolds(leaf, resolve(envelope, leaf.first, leaf.rest))) return false;
      }
      return true;
    } catch {
      // Only a hostile object (a throwing getter or proxy) gets here; JSON values never do.
      return false;
    }
  }
}

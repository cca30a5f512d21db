/**
 * The SDK's own small copy of payload predicates (protocol/predicates.ts is the server's, with
 * every check and message; bundled, it alone would take the SDK past its 4 KB). The edge
 * validates `where` and answers `invalid_where`; here only two things are needed: the canonical
 * key, so that handlers of one predicate however written share one server subscription (it must
 * equal the edge's), and evaluation, to dispatch a notification to the handlers whose predicate
 * holds (it must agree with the edge's). test/unit/client-where.test.ts checks both, on random
 * predicates and notifications.
 *
 * Imports: nothing.
 */
type Rec = Record<string, unknown>;
type Test = (v: unknown) => boolean;

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Rec, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const zero = (v: unknown) => (v === 0 ? 0 : v);
const sortKeys = (o: Rec) => Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function resolve(top: Rec, path: string[]): unknown {
  const [first, ...rest] = path as [string, ...string[]];
  const p = top['payload'];
  let cur: unknown = own(top, first) ? top[first] : isRec(p) && own(p, first) ? p[first] : null;
  for (const seg of rest) cur = isRec(cur) && own(cur, seg) ? cur[seg] : null;
  return cur ?? null;
}

function compare(v: unknown, o: unknown, sign: (d: number) => boolean): boolean {
  return typeof v === typeof o && (typeof o === 'number' || typeof o === 'string') && sign(v === o ? 0 : (v as number) < (o as number) ? -1 : 1);
}

function opTest(op: string, o: unknown): Test {
  switch (op) {
    case 'eq':
      return (v) => v === o;
    case 'neq':
      return (v) => v !== o;
    case 'in':
    case 'nin': {
      const set = new Set(o as unknown[]);
      return op === 'in' ? (v) => set.has(v) : (v) => !set.has(v);
    }
    case 'exists':
      return (v) => (v !== null) === o;
    case 'gt':
      return (v) => compare(v, o, (d) => d > 0);
    case 'gte':
      return (v) => compare(v, o, (d) => d >= 0);
    case 'lt':
      return (v) => compare(v, o, (d) => d < 0);
    case 'lte':
      return (v) => compare(v, o, (d) => d <= 0);
    default:
      return (v) => typeof v === 'string' && v.startsWith(o as string);
  }
}

export interface ClientWhere {
  key: string;
  test(envelope: unknown): boolean;
}

const OPS = new Set(['eq', 'neq', 'in', 'nin', 'exists', 'gt', 'gte', 'lt', 'lte', 'prefix']);

/**
 * Compiles a `where`; for one the edge accepts, the key is the edge's canonical key. Throws a
 * TypeError on a wrong shape; the edge checks the rest (values, limits) and answers invalid_where.
 */
export function compileWhere(where: unknown): ClientWhere {
  const canonical: Rec = Object.create(null) as Rec;
  const leaves: [string[], Test][] = [];
  if (!isRec(where)) throw new TypeError('where must be an object of paths to operators');
  for (const path of sortKeys(where)) {
    const ops = where[path];
    if (!isRec(ops)) throw new TypeError(`where "${path}" must be an object of operators`);
    const out: Rec = {};
    for (const op of sortKeys(ops)) {
      if (!OPS.has(op)) throw new TypeError(`where "${path}": unknown operator "${op}"`);
      let o = ops[op];
      if (Array.isArray(o)) {
        const byJson = new Map(o.map((x) => [JSON.stringify(zero(x)), zero(x)]));
        o = [...byJson.keys()].sort().map((k) => byJson.get(k));
      } else o = zero(o);
      out[op] = o;
      leaves.push([path.split('.'), opTest(op, o)]);
    }
    canonical[path] = out;
  }
  return {
    key: JSON.stringify(canonical),
    test: (e) => isRec(e) && leaves.every(([path, t]) => t(resolve(e, path))),
  };
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFilter } from '../../src/protocol/filters.js';
import { allowsFor, compilePermissions, compileRoles, parsePermission, type Permissions, type RoleTable } from '../../src/protocol/permissions.js';

const NO_ROLES: RoleTable = new Map();

function roles(authRoles: Record<string, string[]>): RoleTable {
  const r = compileRoles(authRoles);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.roles;
}

/** What a token with this subject and claim may do (the subject may be absent in these tests: no user filter). */
function permissions(sub: string | undefined, claim: { filters?: string[]; roles?: string[] } | undefined, table: RoleTable = NO_ROLES): Permissions {
  const r = compilePermissions({ filters: claim?.filters ?? [], roles: claim?.roles ?? [] }, table);
  if (!r.ok) throw new Error(r.errors.join('; '));
  const compiled = r.permissions;
  return { allows: (f) => (sub === undefined || sub === '' ? compiled.allows(f) : allowsFor(sub, compiled, f)), unscoped: compiled.unscoped };
}

describe('parsePermission', () => {
  it('accepts filters, patterns ending in ":*" and unscoped', () => {
    expect(parsePermission('all')).toEqual({ ok: true, permission: { kind: 'filter', filter: 'all' } });
    expect(parsePermission('entity_type:execution')).toEqual({ ok: true, permission: { kind: 'filter', filter: 'entity_type:execution' } });
    expect(parsePermission('unscoped')).toEqual({ ok: true, permission: { kind: 'unscoped' } });
    for (const [raw, prefix] of [
      ['entity_type:*', 'entity_type:'],
      ['notification_type:*', 'notification_type:'],
      ['user:*', 'user:'],
      ['entity:*', 'entity:'],
      ['entity:execution:*', 'entity:execution:'],
      ['user:tenant-7:*', 'user:tenant-7:'],
    ] as const) {
      expect(parsePermission(raw), raw).toEqual({ ok: true, permission: { kind: 'prefix', prefix } });
    }
  });

  it('refuses anything else, saying why', () => {
    const why = (raw: unknown) => {
      const r = parsePermission(raw);
      return r.ok ? 'accepted' : r.message;
    };
    expect(why(42)).toBe('permission must be a string');
    expect(why('')).toBe('filter must not be empty');
    expect(why('*')).toMatch(/"\*" may only end a pattern, right after ":"/);
    expect(why('entity_type:exec*')).toMatch(/"\*" may only end a pattern/);
    expect(why('entity:*:1')).toMatch(/"\*" may only end a pattern/);
    expect(why('entity:*:*')).toMatch(/"\*" may only end a pattern/);
    expect(why('all:*')).toMatch(/"all" takes no value/);
    expect(why('entity_type:a:*')).toMatch(/only entity_type pattern is entity_type:\*/);
    expect(why('entity::*')).toMatch(/matches no valid filter: entity filter must be/);
    expect(why('tenant:*')).toMatch(/matches no valid filter: expected all, entity_type:\*/);
    expect(why(':*')).toMatch(/matches no valid filter/);
    expect(why('user:\u0000:*')).toMatch(/control characters/);
    expect(why(`user:${'x'.repeat(300)}:*`)).toMatch(/longer than 256/);
    expect(why('admin')).toMatch(/unknown filter "admin"/);
    expect(why('entity:execution')).toMatch(/entity filter must be "entity:TYPE:ID"/);
  });
});

describe('compilePermissions', () => {
  it('always lets sub subscribe to user:<sub>, and nothing else without claims', () => {
    const p = permissions('42', undefined);
    expect(p.allows('user:42')).toBe(true);
    expect(p.allows('user:420')).toBe(false);
    expect(p.allows('user:4')).toBe(false);
    expect(p.allows('all')).toBe(false);
    expect(p.unscoped).toBe(false);
    expect(permissions(undefined, undefined).allows('user:')).toBe(false);
    expect(permissions('', undefined).allows('user:')).toBe(false);
  });

  it('grants the claim filters and the roles’ permissions', () => {
    const table = roles({ operator: ['all'], viewer: ['entity_type:*'], auditor: ['notification_type:audit', 'unscoped'] });
    const viewer = permissions('7', { filters: ['entity:execution:*'], roles: ['viewer'] }, table);
    expect(viewer.allows('entity_type:execution')).toBe(true);
    expect(viewer.allows('entity_type:job')).toBe(true);
    expect(viewer.allows('entity:execution:1')).toBe(true);
    expect(viewer.allows('entity:execution:1:2')).toBe(true);
    expect(viewer.allows('user:7')).toBe(true);
    expect(viewer.allows('user:8')).toBe(false);
    expect(viewer.allows('notification_type:audit')).toBe(false);
    expect(viewer.unscoped).toBe(false);
    const auditor = permissions('a', { roles: ['auditor'] }, table);
    expect(auditor.allows('notification_type:audit')).toBe(true);
    expect(auditor.allows('notification_type:audit2')).toBe(false);
    expect(auditor.unscoped).toBe(true);
  });

  it('lets `all` allow every filter, and no pattern allow `all`', () => {
    const operator = permissions('1', { filters: ['all'] });
    for (const f of ['all', 'entity_type:x', 'entity:x:1', 'user:2', 'notification_type:n']) expect(operator.allows(f), f).toBe(true);
    const broad = permissions('1', { filters: ['entity_type:*', 'entity:*', 'user:*', 'notification_type:*'] });
    expect(broad.allows('all')).toBe(false);
    expect(broad.allows('notification_type:n')).toBe(true);
  });

  it('keeps prefix boundaries at ":" and derives nothing from entity_type', () => {
    const p = permissions(undefined, { filters: ['entity:execution:*', 'entity_type:job'] });
    expect(p.allows('entity:execution:1')).toBe(true);
    expect(p.allows('entity:executionX:1')).toBe(false);
    expect(p.allows('entity:executio:1')).toBe(false);
    expect(p.allows('entity_type:execution')).toBe(false);
    expect(p.allows('entity_type:job')).toBe(true);
    expect(p.allows('entity:job:1')).toBe(false);
    expect(p.allows('entity_type:jobs')).toBe(false);
  });

  it('treats `unscoped` as a flag that allows no filter', () => {
    const p = permissions(undefined, { filters: ['unscoped'] });
    expect(p.unscoped).toBe(true);
    expect(p.allows('unscoped')).toBe(false);
    expect(p.allows('all')).toBe(false);
  });

  it('reports unknown roles without failing, including Object.prototype names', () => {
    const table = roles({ viewer: ['entity_type:*'] });
    const r = compilePermissions({ filters: [], roles: ['viewer', 'admin', 'constructor', '__proto__', 'toString'] }, table);
    expect(r.ok && r.unknownRoles).toEqual(['admin', 'constructor', '__proto__', 'toString']);
    expect(r.ok && r.permissions.allows('entity_type:x')).toBe(true);
    expect(r.ok && r.permissions.allows('all')).toBe(false);
  });

  it('fails on a bad pattern, listing every problem', () => {
    const r = compilePermissions({ filters: ['all', 'entity_type:exec*', 'nope'], roles: ['viewer'] }, NO_ROLES);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual([
      expect.stringMatching(/^claim filters\[1\]: permission "entity_type:exec\*": "\*" may only end/),
      expect.stringMatching(/^claim filters\[2\]: unknown filter "nope"/),
    ]);
  });

  it('gives the subject its own user filter only, exactly', () => {
    const none = compilePermissions({ filters: [], roles: [] }, NO_ROLES);
    if (!none.ok) throw new Error('compile');
    expect(allowsFor('42', none.permissions, 'user:42')).toBe(true);
    for (const f of ['user:4', 'user:420', 'user:142', 'xuser:42', 'user:42 ', 'entity:user:42']) expect(allowsFor('42', none.permissions, f), f).toBe(false);
  });
});

describe('compileRoles', () => {
  it('fails listing every bad role entry by its path', () => {
    expect(compileRoles({ viewer: ['entity_type:*', 'entity_type:x*'], admin: 'all', ok: [] })).toEqual({
      ok: false,
      errors: [expect.stringMatching(/^authRoles\.viewer\[1\]: permission "entity_type:x\*"/), expect.stringMatching(/^authRoles\.admin: must be a list/)],
    });
    expect(compileRoles(null)).toEqual({ ok: false, errors: ['authRoles must map role names to lists of permissions'] });
    expect(compileRoles(['all']).ok).toBe(false);
    const own = compileRoles(JSON.parse('{"__proto__": ["all"]}'));
    expect(own.ok && [...own.roles.keys()]).toEqual(['__proto__']);
  });
});

// Values from a small alphabet, so that random patterns and filters often share prefixes,
// including the near misses (`execution` / `executionX`, ids with ":").
const word = fc.constantFrom('execution', 'executionX', 'exec', 'a', '1', '42', '*', 'x y');
const value = fc.array(word, { minLength: 1, maxLength: 3 }).map((ws) => ws.join(':'));
const filterArb = fc
  .oneof(
    fc.constant('all'),
    word.map((w) => `entity_type:${w}`),
    value.map((v) => `notification_type:${v}`),
    value.map((v) => `user:${v}`),
    fc.tuple(word, value).map(([t, id]) => `entity:${t}:${id}`),
  )
  .filter((f) => parseFilter(f).ok);
/** A filter, or one cut after one of its colons and ended with "*", or unscoped, or a near miss. */
const patternArb = fc.oneof(
  filterArb,
  fc.tuple(filterArb, fc.nat()).map(([f, n]) => {
    const colons = [...f].flatMap((ch, i) => (ch === ':' ? [i] : []));
    return colons.length === 0 ? `${f}:*` : `${f.slice(0, colons[n % colons.length]! + 1)}*`;
  }),
  fc.constantFrom('unscoped', 'all:*', '*', 'entity_type:exec*', 'entity:*'),
);

/** The plain reading of the rules, for the property. */
function reference(sub: string, patterns: readonly string[], filter: string): boolean {
  if (filter === `user:${sub}`) return true;
  return patterns.some((p) => p === 'all' || p === filter || (p.endsWith(':*') && filter.startsWith(p.slice(0, -1))));
}

describe('allows agrees with the reference', () => {
  it('on random claims, roles and filters (10,000 cases)', () => {
    fc.assert(
      fc.property(value, fc.array(patternArb, { maxLength: 6 }), fc.array(patternArb, { maxLength: 6 }), fc.array(filterArb, { minLength: 1, maxLength: 8 }), (sub, own, role, filters) => {
        const valid = (ps: string[]) => ps.filter((p) => parsePermission(p).ok);
        const table = roles({ r: valid(role) });
        const compiled = compilePermissions({ filters: own, roles: ['r'] }, table);
        // A claim with an invalid permission fails as a whole.
        expect(compiled.ok).toBe(valid(own).length === own.length);
        const p = permissions(sub, { filters: valid(own), roles: ['r'] }, table);
        const granted = [...valid(own), ...valid(role)];
        for (const f of [...filters, `user:${sub}`]) expect(p.allows(f), f).toBe(reference(sub, granted, f));
      }),
      { numRuns: 10_000, seed: 14 },
    );
  });

  it('parsePermission never throws, and every pattern it accepts ends in ":*" with no other "*"', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), patternArb, fc.anything()), (raw) => {
        const r = parsePermission(raw);
        if (r.ok && r.permission.kind === 'prefix') {
          expect(raw).toBe(`${r.permission.prefix}*`);
          expect(r.permission.prefix.endsWith(':')).toBe(true);
          expect(r.permission.prefix).not.toContain('*');
        }
      }),
      { numRuns: 10_000, seed: 14 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/edge/auth/authenticator.js';
import { NO_CLAIM, type TokenClaim } from '../../src/edge/auth/permissions-claim.js';
import type { TokenVerifier, VerifyResult } from '../../src/edge/auth/token-verifier.js';
import { compileRoles } from '../../src/protocol/permissions.js';
import { peerAllows } from '../../src/edge/peer.js';

/** A verifier that answers each "token" from a table (the verifier itself is token-verifier.test.ts's). */
function verifierOf(table: Record<string, VerifyResult>): TokenVerifier {
  return { verify: (t) => Promise.resolve(table[t ?? ''] ?? { ok: false, reason: 'missing', detail: 'no-token' }), prefetch: () => Promise.resolve(true) };
}
const valid = (sub: string, claim: Partial<TokenClaim> = {}): VerifyResult => ({ ok: true, sub, expiresAt: 1e13, claim: { ...NO_CLAIM, ...claim } });
const roles = (r: Record<string, string[]>) => {
  const c = compileRoles(r);
  if (!c.ok) throw new Error(c.errors.join());
  return c.roles;
};

describe('Authenticator', () => {
  it('makes a peer: subject, expiry, permissions with the roles, no scope', async () => {
    const unknown: string[] = [];
    const a = new Authenticator({
      verifier: verifierOf({ t: valid('7', { filters: ['entity:job:*'], roles: ['viewer', 'ghost'] }) }),
      roles: roles({ viewer: ['entity_type:*'] }),
      scopeFields: [],
      onUnknownRole: (r) => unknown.push(r),
    });
    const r = await a.authenticate('t', '10.0.0.1');
    if (!r.ok) throw new Error(r.detail);
    expect(r.peer).toMatchObject({ ip: '10.0.0.1', sub: '7', exp: 1e10, scope: undefined });
    for (const [f, allowed] of [['user:7', true], ['entity_type:x', true], ['entity:job:1', true], ['user:8', false], ['all', false]] as const) {
      expect(peerAllows(r.peer, f), f).toBe(allowed);
    }
    await a.authenticate('t', '10.0.0.2');
    expect(unknown).toEqual(['ghost']);
  });

  it('shares compiled permissions between tokens with the same claim', async () => {
    const a = new Authenticator({ verifier: verifierOf({ a: valid('1', { roles: ['r'] }), b: valid('2', { roles: ['r'] }) }), roles: roles({ r: ['all'] }), scopeFields: [] });
    const [x, y] = await Promise.all([a.authenticate('a', ''), a.authenticate('b', '')]);
    expect(x.ok && y.ok && x.peer.permissions === y.peer.permissions).toBe(true);
  });

  it('fails as invalid on a bad pattern, a bad scope, or no scope where scopes are required without unscoped', async () => {
    const a = new Authenticator({
      verifier: verifierOf({
        pattern: valid('1', { filters: ['entity_type:x*'] }),
        scoped: valid('1', { scope: { tenant_id: 'acme' } }),
        badScope: valid('1', { scope: { tenant_id: { x: 1 } } }),
        bare: valid('1'),
        ops: valid('1', { filters: ['unscoped', 'all'] }),
      }),
      roles: roles({}),
      scopeFields: ['tenant_id'],
    });
    expect(await a.authenticate('pattern', '')).toEqual({ ok: false, reason: 'invalid', detail: 'claim-permission' });
    expect(await a.authenticate('badScope', '')).toEqual({ ok: false, reason: 'invalid', detail: 'scope' });
    expect(await a.authenticate('bare', '')).toEqual({ ok: false, reason: 'invalid', detail: 'no-scope' });
    expect(await a.authenticate('scoped', '')).toMatchObject({ ok: true, peer: { scope: 'acme' } });
    expect(await a.authenticate('ops', '')).toMatchObject({ ok: true, peer: { scope: undefined } });
    expect(await a.authenticate(undefined, '')).toMatchObject({ ok: false, reason: 'missing' });
  });
});

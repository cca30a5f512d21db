import fc from 'fast-check';
import { exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { jwtSettings } from '../../src/config/jwt-settings.js';
import { MAX_CLAIM_ENTRIES } from '../../src/edge/auth/permissions-claim.js';
import { createTokenVerifier, MAX_TOKEN_LENGTH, type TokenVerifier } from '../../src/edge/auth/token-verifier.js';

const SECRET = 'test-secret-that-is-32-bytes-ok!';
const now = () => Math.floor(Date.now() / 1000);

/** A verifier built the way the edge will: from environment settings. */
function verifierFor(env: Record<string, string>): Promise<TokenVerifier> {
  const settings = jwtSettings(loadConfig({ env: { NOTIFIER_AUTH: 'jwt', ...env } }));
  if (settings === undefined) throw new Error('no settings');
  return createTokenVerifier(settings);
}

function sign(key: CryptoKey | Uint8Array, alg: string, claims: JWTPayload = {}, opts: { sub?: string | null; exp?: number | null; kid?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, ...(opts.kid !== undefined ? { kid: opts.kid } : {}) }).setIssuedAt();
  if (opts.sub !== null) jwt.setSubject(opts.sub ?? 'user-42');
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now() + 60);
  return jwt.sign(key);
}

const secretKey = new TextEncoder().encode(SECRET);

describe('verify with each kind of key', () => {
  it('HS256 with a secret: sub, expiresAt in ms, and the permissions claim', async () => {
    const v = await verifierFor({ NOTIFIER_JWT_SECRET: SECRET });
    const exp = now() + 120;
    const claim = { filters: ['entity_type:execution'], roles: ['ops'], scope: { tenant: 't1' }, extra: 'ignored' };
    const r = await v.verify(await sign(secretKey, 'HS256', { notifier: claim }, { exp }));
    expect(r).toEqual({
      ok: true,
      sub: 'user-42',
      expiresAt: exp * 1000,
      claim: { filters: ['entity_type:execution'], roles: ['ops'], scope: { tenant: 't1' } },
    });
  });

  it('no claim: no extra permissions', async () => {
    const v = await verifierFor({ NOTIFIER_JWT_SECRET: SECRET });
    const r = await v.verify(await sign(secretKey, 'HS256'));
    expect(r).toMatchObject({ ok: true, claim: { filters: [], roles: [], scope: {} } });
  });

  it('reads the claim named by NOTIFIER_JWT_CLAIM', async () => {
    const v = await verifierFor({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_CLAIM: 'https://example.com/notifier' });
    const r = await v.verify(await sign(secretKey, 'HS256', { 'https://example.com/notifier': { roles: ['admin'] }, notifier: { roles: 'x' } }));
    expect(r).toMatchObject({ ok: true, claim: { roles: ['admin'] } });
  });

  it.each([
    ['RS256', 'RS256'],
    ['PS256 (an RSA key)', 'PS256'],
    ['ES256', 'ES256'],
    ['EdDSA', 'EdDSA'],
  ])('%s with a PEM public key', async (_name, alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const v = await verifierFor({ NOTIFIER_JWT_PUBLIC_KEY: await exportSPKI(publicKey) });
    expect(await v.verify(await sign(privateKey, alg))).toMatchObject({ ok: true, sub: 'user-42' });
    const other = await generateKeyPair(alg);
    expect(await v.verify(await sign(other.privateKey, alg))).toMatchObject({ ok: false, reason: 'invalid' });
  });
});

describe('forged and broken tokens are rejected with the right reason', () => {
  let hs: TokenVerifier;
  let rs: TokenVerifier;
  let rsaPem: string;
  let rsaPrivate: CryptoKey;
  beforeAll(async () => {
    hs = await verifierFor({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_ISSUER: 'https://id.example', NOTIFIER_JWT_AUDIENCE: 'notifier' });
    const pair = await generateKeyPair('RS256', { extractable: true });
    rsaPem = await exportSPKI(pair.publicKey);
    rsaPrivate = pair.privateKey;
    rs = await verifierFor({ NOTIFIER_JWT_PUBLIC_KEY: rsaPem });
  });
  const good = { iss: 'https://id.example', aud: 'notifier' };

  it('accepts the well-formed token these cases start from', async () => {
    expect(await hs.verify(await sign(secretKey, 'HS256', good))).toMatchObject({ ok: true });
  });

  it('missing: undefined or empty', async () => {
    expect(await hs.verify(undefined)).toMatchObject({ ok: false, reason: 'missing' });
    expect(await hs.verify('')).toMatchObject({ ok: false, reason: 'missing' });
  });

  it('alg none', async () => {
    const unsigned = new UnsecuredJWT({ ...good, sub: 'admin' }).setExpirationTime('1h').encode();
    expect(await hs.verify(unsigned)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await rs.verify(unsigned)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('signed with another secret', async () => {
    const r = await hs.verify(await sign(new TextEncoder().encode('another-secret-that-is-32-bytes!'), 'HS256', good));
    expect(r).toMatchObject({ ok: false, reason: 'invalid', detail: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('expired beyond the tolerance; accepted within it (5 s by default)', async () => {
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { exp: now() - 30 }))).toMatchObject({ ok: false, reason: 'expired' });
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { exp: now() - 2 }))).toMatchObject({ ok: true });
    const strict = await verifierFor({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    expect(await strict.verify(await sign(secretKey, 'HS256', {}, { exp: now() - 2 }))).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('an expired token with a bad signature is invalid, not expired', async () => {
    const forged = await sign(new TextEncoder().encode('another-secret-that-is-32-bytes!'), 'HS256', good, { exp: now() - 30 });
    expect(await hs.verify(forged)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('tampered payload', async () => {
    const [h, , s] = (await sign(secretKey, 'HS256', good)).split('.');
    const payload = Buffer.from(JSON.stringify({ ...good, sub: 'admin', exp: now() + 60, notifier: { roles: ['admin'] } })).toString('base64url');
    expect(await hs.verify(`${h}.${payload}.${s}`)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('an RS256 public key used as an HS256 secret (algorithm confusion)', async () => {
    for (const secret of [rsaPem, rsaPem.trim()]) {
      const forged = await sign(new TextEncoder().encode(secret), 'HS256');
      expect(await rs.verify(forged)).toMatchObject({ ok: false, reason: 'invalid', detail: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    }
    expect(await rs.verify(await sign(rsaPrivate, 'RS256'))).toMatchObject({ ok: true });
  });

  it('an algorithm outside the pinned list, even with the right key', async () => {
    const pinned = await verifierFor({ NOTIFIER_JWT_PUBLIC_KEY: rsaPem, NOTIFIER_JWT_ALGORITHMS: 'PS256' });
    expect(await pinned.verify(await sign(rsaPrivate, 'RS256'))).toMatchObject({ ok: false, reason: 'invalid', detail: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('missing sub, empty sub, missing exp', async () => {
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { sub: null }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { sub: '' }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { exp: null }))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('a sub that user:<sub> cannot name: control characters, or longer than a filter allows', async () => {
    for (const sub of ['a\u0000b', 'line\nbreak', 'x'.repeat(252)]) {
      expect(await hs.verify(await sign(secretKey, 'HS256', good, { sub })), JSON.stringify(sub).slice(0, 20)).toMatchObject({ ok: false, reason: 'invalid', detail: 'sub' });
    }
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { sub: 'x'.repeat(251) }))).toMatchObject({ ok: true });
    expect(await hs.verify(await sign(secretKey, 'HS256', good, { sub: 'org:7:user' }))).toMatchObject({ ok: true, sub: 'org:7:user' });
  });

  it('a sub that is not a string', async () => {
    const numeric = await new SignJWT({ sub: 42 } as unknown as JWTPayload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(secretKey);
    expect(await hs.verify(numeric)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('a claim with more entries than allowed', async () => {
    const filters = Array.from({ length: MAX_CLAIM_ENTRIES + 1 }, (_, i) => `user:${i}`);
    expect(await hs.verify(await sign(secretKey, 'HS256', { ...good, notifier: { filters } }))).toMatchObject({ ok: false, detail: 'claim' });
  });

  it('wrong or missing issuer and audience', async () => {
    for (const claims of [{ ...good, iss: 'https://evil.example' }, { aud: 'notifier' }, { ...good, aud: 'other' }, { iss: good.iss }]) {
      expect(await hs.verify(await sign(secretKey, 'HS256', claims))).toMatchObject({ ok: false, reason: 'invalid', detail: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    }
    expect(await hs.verify(await sign(secretKey, 'HS256', { ...good, aud: ['other', 'notifier'] }))).toMatchObject({ ok: true });
  });

  it.each([
    ['a string', 'admin'],
    ['null', null],
    ['an array', ['all']],
    ['filters not a list', { filters: 'all' }],
    ['a filter not a string', { filters: [1] }],
    ['roles not a list', { roles: 'admin' }],
    ['scope not an object', { scope: ['x'] }],
  ])('a malformed claim: %s', async (_name, claim) => {
    expect(await hs.verify(await sign(secretKey, 'HS256', { ...good, notifier: claim }))).toMatchObject({ ok: false, reason: 'invalid', detail: 'claim' });
  });

  it.each(['abc', 'a.b.c', 'a.b', '...', 'eyJ.eyJ.', '\u0000', 'Bearer x.y.z'])('garbage %j: invalid, never a throw', async (t) => {
    expect(await hs.verify(t)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('any string, or three dot-separated base64url parts, is a result and never a throw', async () => {
    const part = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')) });
    const jsonPart = fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64url'));
    const candidates = fc.oneof(fc.string(), fc.tuple(fc.oneof(part, jsonPart), fc.oneof(part, jsonPart), part).map((p) => p.join('.')));
    await fc.assert(
      fc.asyncProperty(candidates, async (t) => {
        const r = await hs.verify(t);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('an oversized token is refused before parsing', async () => {
    expect(await hs.verify('a'.repeat(MAX_TOKEN_LENGTH + 1))).toEqual({ ok: false, reason: 'invalid', detail: 'too-long' });
  });

  it('a result never contains the token or the secret', async () => {
    const token = await sign(new TextEncoder().encode('another-secret-that-is-32-bytes!'), 'HS256', good);
    const text = JSON.stringify(await hs.verify(token));
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(SECRET);
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { configError } from '../helpers/config-error.js';
import { authModeFor, inspectPublicKey, jwtSettings } from '../../src/config/jwt-settings.js';

const SECRET = 's3cret-'.padEnd(32, 'x'); // 32 bytes
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPem = ecKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecPrivatePem = ecKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const edPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** The one problem of an env, which must name `name`. */
function problem(env: Record<string, string>, name: string): string {
  const err = configError({ env });
  expect(err.problems).toHaveLength(1);
  expect(err.problems[0]).toMatch(new RegExp(`^${name}`));
  return err.problems[0] ?? '';
}

const jwt = (env: Record<string, string>) => ({ NOTIFIER_AUTH: 'jwt', ...env });

describe('auth settings: defaults and roles', () => {
  it('has no NOTIFIER_AUTH default; the role decides: start → none, edge → none given (refuses later)', () => {
    const c = loadConfig({ env: {} });
    expect(c.auth).toBeUndefined();
    expect(c.jwtClockToleranceSeconds).toBe(5);
    expect(c.jwtClaim).toBe('notifier');
    expect(authModeFor('start', c)).toBe('none');
    expect(authModeFor('edge', c)).toBeUndefined();
    expect(jwtSettings(c)).toBeUndefined();
    for (const mode of ['jwt', 'none'] as const) {
      expect(authModeFor('start', { auth: mode })).toBe(mode);
      expect(authModeFor('edge', { auth: mode })).toBe(mode);
    }
    expect(loadConfig({ env: { NOTIFIER_AUTH: 'none' } }).auth).toBe('none');
  });

  it('rejects an unknown NOTIFIER_AUTH', () => {
    expect(problem({ NOTIFIER_AUTH: 'basic' }, 'NOTIFIER_AUTH \\(environment\\)')).toContain('got "basic"');
  });

  it('reads every setting, from the environment and from YAML field names', () => {
    const c = loadConfig({
      env: jwt({
        NOTIFIER_JWT_SECRET: SECRET,
        NOTIFIER_JWT_ALGORITHMS: ' HS256 ',
        NOTIFIER_JWT_ISSUER: 'https://id.example',
        NOTIFIER_JWT_AUDIENCE: 'notifier',
        NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS: '0',
        NOTIFIER_JWT_CLAIM: 'https://example.com/notifier',
      }),
    });
    expect(jwtSettings(c)).toEqual({
      keySource: { kind: 'secret', secret: SECRET },
      algorithms: ['HS256'],
      issuer: 'https://id.example',
      audience: 'notifier',
      clockToleranceSeconds: 0,
      claim: 'https://example.com/notifier',
    });
    const o = loadConfig({ env: {}, overrides: { auth: 'jwt', jwksUrl: 'https://id.example/jwks.json', jwtAudience: 'a' } });
    expect(jwtSettings(o)?.keySource).toEqual({ kind: 'jwks', url: 'https://id.example/jwks.json' });
  });
});

describe('auth settings: key sources', () => {
  it('NOTIFIER_AUTH=jwt needs a key source', () => {
    expect(problem(jwt({}), 'NOTIFIER_AUTH \\(environment\\)')).toContain('needs one key source');
  });

  it.each([
    [{ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_PUBLIC_KEY: ecPem }, 'NOTIFIER_JWT_PUBLIC_KEY'],
    [{ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWKS_URL: 'https://id.example/jwks', NOTIFIER_JWT_AUDIENCE: 'a' }, 'NOTIFIER_JWKS_URL'],
  ])('takes exactly one key source (%#)', (env, name) => {
    const p = problem(jwt(env), `${name} \\(environment\\)`);
    expect(p).toContain('exactly one key source');
    expect(p).not.toContain(SECRET);
  });

  it('names all three when all are set', () => {
    const err = configError({
      env: jwt({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_PUBLIC_KEY: ecPem, NOTIFIER_JWKS_URL: 'https://id/jwks', NOTIFIER_JWT_AUDIENCE: 'a' }),
    });
    expect(err.problems).toHaveLength(2);
    expect(err.problems[0]).toContain('found 3: NOTIFIER_JWT_SECRET, NOTIFIER_JWT_PUBLIC_KEY, NOTIFIER_JWKS_URL');
  });

  it('refuses a secret shorter than 32 bytes, without printing it', () => {
    const short = 'x'.repeat(31);
    const p = problem(jwt({ NOTIFIER_JWT_SECRET: short }), 'NOTIFIER_JWT_SECRET \\(environment\\)');
    expect(p).toContain('at least 32 bytes');
    expect(p).not.toContain(short);
    expect(p).toContain('got "***"');
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    expect(loadConfig({ env: jwt({ NOTIFIER_JWT_SECRET: 'é'.repeat(16) }) }).jwtSecret).toBe('é'.repeat(16));
  });

  it('never prints the secret, whatever goes wrong', () => {
    const secret = 'a-very-secret-value-of-40-bytes-long-000';
    const err = configError({ env: jwt({ NOTIFIER_JWT_SECRET: secret, NOTIFIER_JWT_ALGORITHMS: 'HS512,none,RS256', NOTIFIER_JWT_PUBLIC_KEY: 'junk' }) });
    expect(err.problems.length).toBeGreaterThan(1);
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain('a-very-secret');
  });

  it('masks a secret of the wrong type too (YAML, flags)', () => {
    const err = configError({ env: {}, overrides: { auth: 'jwt', jwtSecret: 123456789 } });
    expect(err.problems).toEqual([expect.stringMatching(/^jwtSecret \(command-line flag\): .*; got "\*\*\*"$/)]);
  });

  it.each([
    ['an RSA key', rsaPem, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']],
    ['a P-256 key', ecPem, ['ES256']],
    ['an Ed25519 key', edPem, ['EdDSA']],
  ])('takes %s and defaults to its algorithms', (_name, pem, algorithms) => {
    const c = loadConfig({ env: jwt({ NOTIFIER_JWT_PUBLIC_KEY: pem }) });
    expect(jwtSettings(c)?.algorithms).toEqual(algorithms);
    expect(jwtSettings(c)?.keySource).toEqual({ kind: 'public-key', pem });
  });

  it('accepts a one-line PEM with literal \\n separators (environment files)', () => {
    const oneLine = ecPem.trim().split('\n').join('\\n');
    expect(loadConfig({ env: jwt({ NOTIFIER_JWT_PUBLIC_KEY: oneLine }) }).jwtPublicKey).toBe(ecPem.trim());
  });

  it.each([
    ['not PEM', 'hello', 'expected a PEM public key'],
    ['a private key', ecPrivatePem, 'is a private key'],
    ['a broken PEM', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'not a readable PEM public key'],
    [
      'a 1024-bit RSA key',
      generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'RSA key of 1024 bits',
    ],
    ['a secp256k1 key', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'secp256k1'],
  ])('refuses %s as NOTIFIER_JWT_PUBLIC_KEY, without quoting it', (_name, pem, message) => {
    const p = problem(jwt({ NOTIFIER_JWT_PUBLIC_KEY: pem }), 'NOTIFIER_JWT_PUBLIC_KEY \\(environment\\)');
    expect(p).toContain(message);
    expect(p).not.toContain(pem.includes('\n') ? pem.split('\n')[1] : pem);
  });

  it('inspectPublicKey never quotes the key either', () => {
    const r = inspectPublicKey(ecPrivatePem);
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).not.toContain('PRIVATE KEY-----\n');
  });

  it.each(['ftp://id.example/jwks', 'not a url'])('refuses NOTIFIER_JWKS_URL=%j', (u) => {
    problem(jwt({ NOTIFIER_JWKS_URL: u, NOTIFIER_JWT_AUDIENCE: 'a' }), 'NOTIFIER_JWKS_URL \\(environment\\)');
  });

  it('masks a password in NOTIFIER_JWKS_URL', () => {
    const err = configError({ env: { NOTIFIER_JWKS_URL: 'https://u:hunter2@id/jwks' } });
    expect(err.message).not.toContain('hunter2');
  });

  it('requires NOTIFIER_JWT_AUDIENCE with a JWKS URL', () => {
    const p = problem(jwt({ NOTIFIER_JWKS_URL: 'http://127.0.0.1:9/jwks' }), 'jwtAudience / NOTIFIER_JWT_AUDIENCE');
    expect(p).toContain('required with NOTIFIER_JWKS_URL');
    const c = loadConfig({ env: jwt({ NOTIFIER_JWKS_URL: 'http://127.0.0.1:9/jwks', NOTIFIER_JWT_AUDIENCE: 'notifier' }) });
    expect(jwtSettings(c)?.algorithms).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);
  });

  it.each([
    ['NOTIFIER_JWT_SECRET', SECRET],
    ['NOTIFIER_JWT_PUBLIC_KEY', ecPem],
    ['NOTIFIER_JWKS_URL', 'https://id/jwks'],
    ['NOTIFIER_JWT_ALGORITHMS', 'HS256'],
    ['NOTIFIER_JWT_ISSUER', 'https://id'],
    ['NOTIFIER_JWT_AUDIENCE', 'notifier'],
  ])('refuses %s without NOTIFIER_AUTH=jwt (it would be ignored)', (name, value) => {
    expect(problem({ [name]: value }, `${name} \\(environment\\)`)).toContain('NOTIFIER_AUTH is unset');
    expect(problem({ NOTIFIER_AUTH: 'none', [name]: value }, `${name} \\(environment\\)`)).toContain('NOTIFIER_AUTH is none');
  });
});

describe('auth settings: algorithms are pinned', () => {
  it('a secret defaults to the HMAC algorithms its length allows (RFC 7518 §3.2)', () => {
    const algs = (secret: string) => jwtSettings(loadConfig({ env: jwt({ NOTIFIER_JWT_SECRET: secret }) }))?.algorithms;
    expect(algs('x'.repeat(32))).toEqual(['HS256']);
    expect(algs('x'.repeat(48))).toEqual(['HS256', 'HS384']);
    expect(algs('x'.repeat(64))).toEqual(['HS256', 'HS384', 'HS512']);
  });

  it('refuses HS512 with a secret shorter than 64 bytes', () => {
    const p = problem(jwt({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_ALGORITHMS: 'HS256,HS512' }), 'NOTIFIER_JWT_ALGORITHMS \\(environment\\)\\[1\\]');
    expect(p).toContain('HS512 does not fit NOTIFIER_JWT_SECRET: a 32-byte secret allows HS256');
  });

  it.each(['none', 'None', 'HS256,none'])('never accepts alg none (%j)', (value) => {
    expect(problem(jwt({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_ALGORITHMS: value }), 'NOTIFIER_JWT_ALGORITHMS')).toContain('never accepted');
  });

  it.each([
    ['unknown', 'HS257', 'expected one of'],
    ['empty list', ' , ', 'at least one algorithm'],
    ['ES256K', 'ES256K', 'expected one of'],
  ])('refuses an %s', (_name, value, message) => {
    expect(problem(jwt({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_ALGORITHMS: value }), 'NOTIFIER_JWT_ALGORITHMS')).toContain(message);
  });

  it.each([
    [{ NOTIFIER_JWT_SECRET: SECRET }, 'RS256'],
    [{ NOTIFIER_JWT_PUBLIC_KEY: rsaPem }, 'HS256'], // the classic RS256 → HS256 confusion
    [{ NOTIFIER_JWT_PUBLIC_KEY: ecPem }, 'ES384'],
    [{ NOTIFIER_JWT_PUBLIC_KEY: edPem }, 'ES256'],
    [{ NOTIFIER_JWKS_URL: 'https://id/jwks', NOTIFIER_JWT_AUDIENCE: 'a' }, 'HS256'],
  ])('refuses algorithms that do not fit the key source (%#)', (env, alg) => {
    expect(problem(jwt({ ...env, NOTIFIER_JWT_ALGORITHMS: alg }), 'NOTIFIER_JWT_ALGORITHMS')).toContain(`${alg} does not fit`);
  });

  it('keeps a pinned subset, in order, without duplicates', () => {
    const c = loadConfig({ env: jwt({ NOTIFIER_JWT_PUBLIC_KEY: rsaPem, NOTIFIER_JWT_ALGORITHMS: 'PS256,RS256,PS256' }) });
    expect(jwtSettings(c)?.algorithms).toEqual(['PS256', 'RS256']);
  });
});

describe('auth settings: claims and tolerance', () => {
  it.each(['-1', '601', '1.5', 'soon', ''])('refuses NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS=%j', (v) => {
    problem({ NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS: v }, 'NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS \\(environment\\)');
  });

  it.each(['sub', 'exp', 'aud', ''])('refuses NOTIFIER_JWT_CLAIM=%j', (v) => {
    problem({ NOTIFIER_JWT_CLAIM: v }, 'NOTIFIER_JWT_CLAIM \\(environment\\)');
  });

  it('treats an empty issuer or audience as unset', () => {
    const c = loadConfig({ env: jwt({ NOTIFIER_JWT_SECRET: SECRET, NOTIFIER_JWT_ISSUER: '', NOTIFIER_JWT_AUDIENCE: '' }) });
    expect(c.jwtIssuer).toBeUndefined();
    expect(c.jwtAudience).toBeUndefined();
  });
});

describe('roles, scopes and limits', () => {
  it('reads authRoles from YAML and NOTIFIER_AUTH_ROLES as JSON; a bad pattern names its role and index', () => {
    const dir = mkdtempSync(join(tmpdir(), 'notifier-roles-'));
    const file = join(dir, 'notifier.yaml');
    writeFileSync(file, 'authRoles:\n  operator: ["all"]\n  viewer: ["entity_type:*", "notification_type:*"]\n');
    expect(loadConfig({ env: {}, file }).authRoles).toEqual({ operator: ['all'], viewer: ['entity_type:*', 'notification_type:*'] });
    expect(loadConfig({ env: { NOTIFIER_AUTH_ROLES: '{"ops": ["unscoped", "all"]}' } }).authRoles).toEqual({ ops: ['unscoped', 'all'] });
    writeFileSync(file, 'authRoles:\n  viewer: ["entity_type:*", "entity_type:exec*"]\n');
    expect(configError({ env: {}, file }).problems.join('\n')).toMatch(/authRoles\.viewer\[1\]: permission "entity_type:exec\*": "\*" may only end/);
    expect(configError({ env: { NOTIFIER_AUTH_ROLES: '{not json' } }).problems.join('\n')).toMatch(/NOTIFIER_AUTH_ROLES.*expected a map of role names/);
    expect(loadConfig({ env: {} }).authRoles).toEqual({});
  });

  it('checks scope fields, origins, trusted proxies and allowed hosts, naming the variable', () => {
    expect(loadConfig({ env: { NOTIFIER_SCOPE_FIELDS: 'tenant_id, region' } }).scopeFields).toEqual(['tenant_id', 'region']);
    expect(problem({ NOTIFIER_SCOPE_FIELDS: 'tenant-id' }, 'NOTIFIER_SCOPE_FIELDS')).toMatch(/expected a field name/);
    expect(loadConfig({ env: { NOTIFIER_ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000' } }).allowedOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:3000',
    ]);
    expect(loadConfig({ env: { NOTIFIER_ALLOWED_ORIGINS: '*' } }).allowedOrigins).toEqual(['*']);
    for (const bad of ['https://app.example.com/', 'app.example.com', 'ftp://x.example']) {
      expect(problem({ NOTIFIER_ALLOWED_ORIGINS: bad }, 'NOTIFIER_ALLOWED_ORIGINS'), bad).toMatch(/expected an exact origin/);
    }
    expect(loadConfig({ env: { NOTIFIER_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8, 127.0.0.1' } }).trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8', '127.0.0.1']);
    for (const bad of ['10.0.0.0/33', 'ten.0.0.0/8', '::1/129']) expect(problem({ NOTIFIER_TRUSTED_PROXIES: bad }, 'NOTIFIER_TRUSTED_PROXIES'), bad).toMatch(/CIDR/);
    expect(loadConfig({ env: {} }).allowedHosts).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(problem({ NOTIFIER_ALLOWED_HOSTS: 'example.com:8080' }, 'NOTIFIER_ALLOWED_HOSTS')).toMatch(/without a port/);
    expect(problem({ NOTIFIER_METRICS_TOKEN: 'short' }, 'NOTIFIER_METRICS_TOKEN')).toMatch(/at least 16/);
  });
});

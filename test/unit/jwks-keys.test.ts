/**
 * The JWKS key source against a local key server (node:http on 127.0.0.1, a free port): key
 * rotation, the refetch cooldown, a server that is down or hangs, and logs without tokens.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { jwtSettings } from '../../src/config/jwt-settings.js';
import { createTokenVerifier, type TokenVerifier } from '../../src/edge/auth/token-verifier.js';
import type { JwksOptions } from '../../src/edge/auth/jwks-keys.js';

interface KeyServer {
  url: string;
  /** JWKS requests answered (or hung) so far. */
  requests: number;
  keys: JWK[];
  mode: 'ok' | 'hang' | 'error' | 'garbage';
  close(): Promise<void>;
  /** Listens again on the same port after close(). */
  reopen(): Promise<void>;
}

const servers: KeyServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function startKeyServer(keys: JWK[]): Promise<KeyServer> {
  const hung: ServerResponse[] = [];
  let server: Server;
  const ks: KeyServer = {
    url: '',
    requests: 0,
    keys,
    mode: 'ok',
    close: async () => {
      for (const res of hung.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    reopen: async () => {
      server = make();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
  };
  const make = () =>
    createServer((req, res) => {
      ks.requests++;
      if (ks.mode === 'hang') return void hung.push(res);
      if (ks.mode === 'error') return void res.writeHead(503).end('down');
      if (ks.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: ks.keys }));
    });
  server = make();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  ks.url = `http://127.0.0.1:${port}/.well-known/jwks.json`;
  servers.push(ks);
  return ks;
}

interface Signer {
  kid: string;
  alg: string;
  jwk: JWK;
  privateKey: CryptoKey;
}

async function signer(kid: string, alg: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function token(s: Signer, kid = s.kid, aud = 'notifier'): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: s.alg, kid })
    .setSubject('user-7')
    .setAudience(aud)
    .setExpirationTime('5m')
    .sign(s.privateKey);
}

/** Cooldown (and refresh interval, where a test sets it) of these tests; waits are this plus a margin. */
const C = 400;
const pastCooldown = () => sleep(C + 60);

/** Polls until `cond` holds (a background fetch has landed), failing after 3 s. */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met within 3 s');
    await sleep(10);
  }
}

const logs: string[] = [];
async function verifierFor(ks: KeyServer, opts: JwksOptions = {}): Promise<TokenVerifier> {
  const settings = jwtSettings(loadConfig({ env: { NOTIFIER_AUTH: 'jwt', NOTIFIER_JWKS_URL: ks.url, NOTIFIER_JWT_AUDIENCE: 'notifier' } }));
  if (settings === undefined) throw new Error('no settings');
  return createTokenVerifier(settings, {
    timeoutMs: 500,
    cooldownMs: C,
    log: { warn: (obj, msg) => logs.push(`${JSON.stringify(obj)} ${msg}`) },
    ...opts,
  });
}

let rsa1: Signer;
let ec2: Signer;
let ed3: Signer;
beforeAll(async () => {
  [rsa1, ec2, ed3] = await Promise.all([signer('k1', 'RS256'), signer('k2', 'ES256'), signer('k3', 'EdDSA')]);
});

describe('JWKS key source', () => {
  it('fetches once and verifies from the cache', async () => {
    const ks = await startKeyServer([rsa1.jwk]);
    const v = await verifierFor(ks);
    for (let i = 0; i < 5; i++) expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true, sub: 'user-7' });
    expect(ks.requests).toBe(1);
    expect(await v.verify(await token(rsa1, 'k1', 'someone-else'))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('a new kid refetches (key rotation), once the cooldown allows', async () => {
    const ks = await startKeyServer([rsa1.jwk]);
    const v = await verifierFor(ks);
    expect(await v.prefetch()).toBe(true);
    expect(ks.requests).toBe(1);
    ks.keys = [rsa1.jwk, ec2.jwk];
    // Within the cooldown: the new kid is unknown and no request is made.
    expect(await v.verify(await token(ec2))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(ks.requests).toBe(1);
    await pastCooldown();
    expect(await v.verify(await token(ec2))).toMatchObject({ ok: true });
    expect(ks.requests).toBe(2);
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true });
  });

  it('a kid pointing nowhere is invalid, and a burst of them costs one request per cooldown', async () => {
    const ks = await startKeyServer([rsa1.jwk]);
    const v = await verifierFor(ks);
    await v.prefetch();
    await pastCooldown();
    const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => token(ed3, `nowhere-${i}`)));
    const results = await Promise.all(forged.map((t) => v.verify(t)));
    for (const r of results) expect(r).toMatchObject({ ok: false, reason: 'invalid' });
    expect(ks.requests).toBe(2);
    for (const t of forged) expect(await v.verify(t)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(ks.requests).toBe(2);
  });

  it('known keys keep verifying while the key server is down; new kids are refused; it recovers', async () => {
    const ks = await startKeyServer([rsa1.jwk]);
    const v = await verifierFor(ks, { refreshMs: C });
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true });
    await ks.close();
    await pastCooldown();
    // The background refresh fails (connection refused): the fetched key still verifies.
    for (let i = 0; i < 3; i++) {
      expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true });
      await sleep(120);
    }
    expect(await v.verify(await token(ec2))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(logs.some((l) => l.includes('edge:jwks:fetch:error') && l.includes('ECONNREFUSED'))).toBe(true);
    ks.keys = [rsa1.jwk, ec2.jwk];
    await ks.reopen();
    await pastCooldown();
    expect(await v.verify(await token(ec2))).toMatchObject({ ok: true });
  });

  it.each([
    ['errors (HTTP 503)', 'error', '"status":503'],
    ['something else than a key set (a login page)', 'garbage', 'not a JSON Web Key Set'],
  ] as const)('a key server answering %s keeps the known keys, and says so', async (_name, mode, logged) => {
    const ks = await startKeyServer([rsa1.jwk]);
    const v = await verifierFor(ks, { refreshMs: C });
    await v.prefetch();
    ks.mode = mode;
    await pastCooldown();
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true });
    await until(() => logs.some((l) => l.includes(logged)));
    expect(ks.requests).toBe(2);
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true });
    expect(await v.verify(await token(ec2))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('a key removed from the set stops verifying after the refresh interval', async () => {
    const ks = await startKeyServer([rsa1.jwk, ec2.jwk]);
    const v = await verifierFor(ks, { refreshMs: C });
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: true });
    ks.keys = [ec2.jwk];
    await pastCooldown();
    // This use starts the refresh in the background (and still verifies); later ones see the new set.
    const t1 = await token(rsa1);
    expect(await v.verify(t1)).toMatchObject({ ok: true });
    await until(async () => !(await v.verify(t1)).ok);
    expect(await v.verify(t1)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(ks.requests).toBe(2);
    expect(await v.verify(await token(ec2))).toMatchObject({ ok: true });
  });

  it('a hanging key server costs at most the fetch timeout', async () => {
    const ks = await startKeyServer([rsa1.jwk]);
    ks.mode = 'hang';
    const v = await verifierFor(ks, { timeoutMs: 300, cooldownMs: 5000 });
    const started = Date.now();
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: false, reason: 'invalid' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
    expect(logs.some((l) => l.includes('timed out after 300 ms'))).toBe(true);
    // Within the cooldown the next token fails at once, without a request.
    const again = Date.now();
    expect(await v.verify(await token(rsa1))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(Date.now() - again).toBeLessThan(100);
    expect(ks.requests).toBe(1);
  });

  it('no log line carries a token', async () => {
    const ks = await startKeyServer([rsa1.jwk]);
    ks.mode = 'error';
    const v = await verifierFor(ks);
    const t = await token(rsa1);
    await v.verify(t);
    expect(logs.length).toBeGreaterThan(0);
    for (const l of logs) for (const part of t.split('.')) expect(l).not.toContain(part);
  });
});

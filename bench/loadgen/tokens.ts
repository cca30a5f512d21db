/**
 * Tokens of the benchmark's notifier clients (issue 14 §1: the bench runs with NOTIFIER_AUTH=jwt).
 * Each connection i gets its own token, minted with jose as an application would: `sub` = "i"
 * (so `user:<i>` is its own), a `notifier` claim with the permissions its filters need, and with
 * tenants a scope {tenant_id: "t<i % tenants>"}. Tokens are minted before a worker starts
 * connecting, so connect times measure the edge's verification, not the client's signing.
 *
 * HS256 uses a shared secret; ES256 a P-256 key pair made once per benchmark process (the
 * private key travels to the workers as PKCS#8 PEM, the edge gets the SPKI PEM).
 */
import { generateKeyPairSync } from 'node:crypto';
import { importPKCS8, SignJWT, type JWTPayload } from 'jose';
import type { FilterSpec } from './messages.js';

/** How the load generator's clients authenticate to a notifier edge (absent: anonymous). */
export interface ClientAuth {
  alg: 'HS256' | 'ES256';
  /** HS256: the secret; ES256: the private key, PKCS#8 PEM. */
  key: string;
  /** The edge has NOTIFIER_SCOPE_FIELDS: a client without a scope needs the `unscoped` permission. */
  scopesConfigured?: boolean;
}

export type AuthMode = 'none' | 'HS256' | 'ES256';

export const BENCH_JWT_SECRET = 'notifier-bench-secret-of-at-least-32-bytes';

let es256: { privatePem: string; publicPem: string } | undefined;
function es256Keys(): { privatePem: string; publicPem: string } {
  if (!es256) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    es256 = {
      privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
  }
  return es256;
}

/** The edge's environment for an auth mode, and what its clients present. */
export function authSetup(mode: AuthMode): { edgeEnv: Record<string, string>; auth: ClientAuth | undefined } {
  switch (mode) {
    case 'none':
      return { edgeEnv: { NOTIFIER_AUTH: 'none' }, auth: undefined };
    case 'HS256':
      return { edgeEnv: { NOTIFIER_AUTH: 'jwt', NOTIFIER_JWT_SECRET: BENCH_JWT_SECRET }, auth: { alg: 'HS256', key: BENCH_JWT_SECRET } };
    case 'ES256': {
      const k = es256Keys();
      return { edgeEnv: { NOTIFIER_AUTH: 'jwt', NOTIFIER_JWT_PUBLIC_KEY: k.publicPem }, auth: { alg: 'ES256', key: k.privatePem } };
    }
  }
}

/** The permissions connection i's filters need (its `user:<i>` comes with its sub). */
export function claimFor(spec: FilterSpec, i: number, tenants: number | undefined, auth: ClientAuth): Record<string, unknown> {
  let filters: string[];
  switch (spec.kind) {
    case 'all':
    case 'where':
      filters = ['all'];
      break;
    case 'user':
      filters = [...spec.shared];
      break;
    case 'many':
      filters = ['entity:doc:*'];
      break;
    case 'group':
      filters = ['user:*'];
      break;
  }
  if (tenants !== undefined) return { filters, scope: { tenant_id: tenantOf(i, tenants) } };
  if (auth.scopesConfigured) filters.push('unscoped');
  return { filters };
}

export const tenantOf = (i: number, tenants: number): string => `t${i % tenants}`;

/** A token minter for one auth setting (the key imported once). */
export async function minter(auth: ClientAuth): Promise<(sub: string, claim: Record<string, unknown>) => Promise<string>> {
  const key = auth.alg === 'HS256' ? new TextEncoder().encode(auth.key) : await importPKCS8(auth.key, 'ES256');
  return (sub, claim) =>
    new SignJWT({ notifier: claim } as JWTPayload)
      .setProtectedHeader({ alg: auth.alg })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 6 * 3600)
      .sign(key);
}

/** One token per connection index (i → its token). */
export async function mintTokens(auth: ClientAuth, spec: FilterSpec, indices: readonly number[], tenants?: number): Promise<Map<number, string>> {
  const mint = await minter(auth);
  const out = new Map<number, string>();
  for (const i of indices) out.set(i, await mint(String(i), claimFor(spec, i, tenants, auth)));
  return out;
}

/** The upgrade request's extra header carrying a token. */
export const bearerHeader = (token: string | undefined): string => (token === undefined ? '' : `Authorization: Bearer ${token}\r\n`);

/** The edge environment and one token with `all` for a scenario's single client (sources, failover). */
export async function singleClientAuth(): Promise<{ edgeEnv: Record<string, string>; token: string }> {
  const { edgeEnv, auth } = authSetup('HS256');
  const mint = await minter(auth as ClientAuth);
  return { edgeEnv, token: await mint('bench', { filters: ['all'] }) };
}

/**
 * JWT authentication settings (issue 14): which algorithms each key source allows, the checks
 * that span several settings (exactly one key source, algorithms that fit it, audience with a
 * JWKS URL), what each role runs with, and the settings resolved for the token verifier.
 *
 * No message built here contains a secret or a key: they name settings, algorithms and sizes.
 * The PEM is inspected with node:crypto (synchronously, at start); every token operation is the
 * edge's, with jose.
 *
 * Imports: node:crypto and types of config/ only.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Config } from './schema.js';

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export const JWT_ALGORITHMS = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Shortest HMAC secret accepted at all; HS384 and HS512 need their hash size (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;
const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
/** jose refuses RSA keys below 2048 bits at verification; refusing them at start says so sooner. */
const MIN_RSA_BITS = 2048;

/** Claims the verifier reads itself: the permissions claim may not be one of them. */
export const REGISTERED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti'];

export function isJwtAlgorithm(s: string): s is JwtAlgorithm {
  return (JWT_ALGORITHMS as readonly string[]).includes(s);
}

/** The algorithms a secret of this many bytes may be used with. */
export function hmacAlgorithmsFor(secretBytes: number): JwtAlgorithm[] {
  return HMAC_ALGORITHMS.filter((a) => secretBytes >= (HMAC_MIN_BYTES[a] ?? Infinity));
}

export type PublicKeyInspection = { ok: true; algorithms: JwtAlgorithm[]; description: string } | { ok: false; message: string };

/**
 * Reads a PEM public key (SPKI, `-----BEGIN PUBLIC KEY-----`) and says which algorithms it can
 * verify. A private key is refused: it must never be on an edge.
 */
export function inspectPublicKey(pem: string): PublicKeyInspection {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    return { ok: false, message: 'is a private key: give the public key (the private key must never be on an edge)' };
  }
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    return { ok: false, message: 'expected a PEM public key starting with -----BEGIN PUBLIC KEY----- (SPKI)' };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return { ok: false, message: 'is not a readable PEM public key' };
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return { ok: false, message: `RSA key of ${bits} bits: at least ${MIN_RSA_BITS} are needed` };
    return { ok: true, algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'], description: `RSA ${bits}-bit key` };
  }
  if (type === 'ec') {
    const byCurve: Record<string, JwtAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
    const alg = byCurve[details.namedCurve ?? ''];
    if (alg === undefined) return { ok: false, message: `EC curve ${details.namedCurve ?? '(unknown)'} is not supported: use P-256, P-384 or P-521` };
    return { ok: true, algorithms: [alg], description: `EC ${details.namedCurve} key` };
  }
  if (type === 'ed25519') return { ok: true, algorithms: ['EdDSA'], description: 'Ed25519 key' };
  return { ok: false, message: `${type ?? 'unknown'} keys are not supported: use RSA, EC (P-256, P-384, P-521) or Ed25519` };
}

/** The settings this module checks, as the schema parsed them (before the object is frozen). */
export interface JwtFields {
  auth?: 'jwt' | 'none' | undefined;
  jwtSecret?: string | undefined;
  jwtPublicKey?: string | undefined;
  jwksUrl?: string | undefined;
  jwtAlgorithms?: string[] | undefined;
  jwtIssuer?: string | undefined;
  jwtAudience?: string | undefined;
}

type Issue = (path: (string | number)[], message: string) => void;

const KEY_SOURCES = [
  ['jwtSecret', 'NOTIFIER_JWT_SECRET'],
  ['jwtPublicKey', 'NOTIFIER_JWT_PUBLIC_KEY'],
  ['jwksUrl', 'NOTIFIER_JWKS_URL'],
] as const;
const JWT_ONLY = [...KEY_SOURCES, ['jwtAlgorithms', 'NOTIFIER_JWT_ALGORITHMS'], ['jwtIssuer', 'NOTIFIER_JWT_ISSUER'], ['jwtAudience', 'NOTIFIER_JWT_AUDIENCE']] as const;

/** The cross-setting rules, run by the schema's superRefine. Field-level rules live in schema.ts. */
export function checkJwtSettings(c: JwtFields, issue: Issue): void {
  if (c.auth !== 'jwt') {
    // A JWT setting without NOTIFIER_AUTH=jwt would be silently ignored (`start` defaults to none).
    for (const [key, env] of JWT_ONLY) {
      if (c[key] !== undefined) {
        issue([key], `${env} is set but NOTIFIER_AUTH is ${c.auth ?? 'unset'}: set NOTIFIER_AUTH=jwt to verify tokens, or remove ${env}`);
      }
    }
    return;
  }
  const sources = KEY_SOURCES.filter(([key]) => c[key] !== undefined);
  if (sources.length === 0) {
    issue(['auth'], 'NOTIFIER_AUTH=jwt needs one key source: NOTIFIER_JWT_SECRET, NOTIFIER_JWT_PUBLIC_KEY or NOTIFIER_JWKS_URL');
    return;
  }
  if (sources.length > 1) {
    const names = sources.map(([, env]) => env).join(', ');
    for (const [key] of sources.slice(1)) issue([key], `exactly one key source may be set; found ${sources.length}: ${names}`);
    return;
  }
  if (c.jwksUrl !== undefined && c.jwtAudience === undefined) {
    issue(['jwtAudience'], 'required with NOTIFIER_JWKS_URL: a key server signs tokens for many services, so the audience says which are for this one');
  }
  const allowed = algorithmsOfSource(c);
  if (allowed === undefined || c.jwtAlgorithms === undefined) return;
  c.jwtAlgorithms.forEach((alg, i) => {
    if (!isJwtAlgorithm(alg) || allowed.algorithms.includes(alg)) return;
    issue(['jwtAlgorithms', i], `${alg} does not fit ${allowed.source}: ${allowed.why}`);
  });
}

interface SourceAlgorithms {
  source: string;
  algorithms: JwtAlgorithm[];
  why: string;
}

/** What the one key source can verify; undefined when the source is itself invalid (reported on its own key). */
function algorithmsOfSource(c: JwtFields): SourceAlgorithms | undefined {
  if (c.jwtSecret !== undefined) {
    const bytes = Buffer.byteLength(c.jwtSecret);
    if (bytes < MIN_SECRET_BYTES) return undefined;
    const algorithms = hmacAlgorithmsFor(bytes);
    return {
      source: 'NOTIFIER_JWT_SECRET',
      algorithms,
      why: `a ${bytes}-byte secret allows ${algorithms.join(', ')} (HS256 needs 32 bytes, HS384 48, HS512 64)`,
    };
  }
  if (c.jwtPublicKey !== undefined) {
    const key = inspectPublicKey(c.jwtPublicKey);
    if (!key.ok) return undefined;
    return { source: 'NOTIFIER_JWT_PUBLIC_KEY', algorithms: key.algorithms, why: `an ${key.description} allows ${key.algorithms.join(', ')}` };
  }
  return { source: 'NOTIFIER_JWKS_URL', algorithms: [...ASYMMETRIC_ALGORITHMS], why: `a key server publishes public keys: ${ASYMMETRIC_ALGORITHMS.join(', ')}` };
}

export type AuthMode = 'jwt' | 'none';

/**
 * What a role runs with: NOTIFIER_AUTH, else the role's default. `start` defaults to `none`; the
 * `edge` has no default, so `undefined` means "refuse to start" (issue 14; not enforced yet).
 */
export function authModeFor(role: 'start' | 'edge', config: Pick<Config, 'auth'>): AuthMode | undefined {
  return config.auth ?? (role === 'start' ? 'none' : undefined);
}

export type JwtKeySource = { kind: 'secret'; secret: string } | { kind: 'public-key'; pem: string } | { kind: 'jwks'; url: string };

/** Everything the token verifier needs, resolved: the key source and the pinned algorithms. */
export interface JwtSettings {
  readonly keySource: JwtKeySource;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly clockToleranceSeconds: number;
  readonly claim: string;
}

/**
 * The verifier's settings from a validated configuration (the schema guarantees exactly one key
 * source and fitting algorithms); undefined unless NOTIFIER_AUTH=jwt.
 */
export function jwtSettings(config: Config): JwtSettings | undefined {
  if (config.auth !== 'jwt') return undefined;
  const keySource: JwtKeySource | undefined =
    config.jwtSecret !== undefined
      ? { kind: 'secret', secret: config.jwtSecret }
      : config.jwtPublicKey !== undefined
        ? { kind: 'public-key', pem: config.jwtPublicKey }
        : config.jwksUrl !== undefined
          ? { kind: 'jwks', url: config.jwksUrl }
          : undefined;
  const source = algorithmsOfSource(config);
  if (keySource === undefined || source === undefined) throw new Error('jwtSettings: the configuration was not validated');
  const algorithms = (config.jwtAlgorithms?.filter(isJwtAlgorithm) ?? source.algorithms).filter((a) => source.algorithms.includes(a));
  return {
    keySource,
    algorithms: [...new Set(algorithms)],
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    clockToleranceSeconds: config.jwtClockToleranceSeconds,
    claim: config.jwtClaim,
  };
}

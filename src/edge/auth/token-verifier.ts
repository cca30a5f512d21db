/**
 * Token verification for the edge's upgrade (issue 14): a JWT → who the client is, until when,
 * and what its permissions claim says; or why not. Every token operation is jose's `jwtVerify`,
 * with the algorithms pinned (never `none`), `exp` and `sub` required, issuer and audience
 * checked when configured, and a clock tolerance.
 *
 * `verify` never throws and never rejects: bad input of any kind is a result. Reasons are
 * `missing` (no token), `expired` (a valid token past `exp` + tolerance: the client may refresh
 * it) and `invalid` (anything else; `detail` is jose's error code or ours, safe to log). Neither
 * the token nor the key appears in a result or a log line.
 *
 * Imports: jose, config types, the other auth/ modules.
 */
import { errors, importSPKI, jwtVerify, type CryptoKey, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { JwtSettings } from '../../config/jwt-settings.js';
import { MAX_FILTER_LENGTH, parseFilter } from '../../protocol/filters.js';
import { createJwksKeys, type JwksKeys, type JwksOptions } from './jwks-keys.js';
import { parseClaim, type TokenClaim } from './permissions-claim.js';

/** Longer strings are refused before parsing: no real token is this large, and headers are bounded anyway. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export type VerifyFailure = 'missing' | 'invalid' | 'expired';

export type VerifyResult =
  | {
      ok: true;
      /** The token's subject: a user may subscribe to `user:<sub>`. */
      sub: string;
      /** `exp` in milliseconds since the epoch: the edge closes or asks for a new token then. */
      expiresAt: number;
      /** The permissions claim, its shape checked (NOTIFIER_JWT_CLAIM). */
      claim: TokenClaim;
    }
  | {
      ok: false;
      reason: VerifyFailure;
      /** Why, for logs and metrics labels: a jose error code or `claim`, `too-long`, `sub`. Never the token. */
      detail: string;
    };

export interface TokenVerifier {
  verify(token: string | undefined): Promise<VerifyResult>;
  /** With a JWKS URL: fetch the keys now (start-up, readiness). Resolves true when keys are there. */
  prefetch(): Promise<boolean>;
}

/**
 * Builds the verifier: imports a PEM key for each pinned algorithm, or sets up the JWKS cache.
 * Rejects only on a key the configuration check let through but WebCrypto refuses.
 */
export async function createTokenVerifier(settings: JwtSettings, jwksOptions: JwksOptions = {}): Promise<TokenVerifier> {
  const { getKey, jwks } = await keyOf(settings, jwksOptions);
  const options: JWTVerifyOptions = {
    algorithms: [...settings.algorithms],
    requiredClaims: ['exp', 'sub'],
    clockTolerance: settings.clockToleranceSeconds,
    ...(settings.issuer !== undefined ? { issuer: settings.issuer } : {}),
    ...(settings.audience !== undefined ? { audience: settings.audience } : {}),
  };

  const verify = async (token: string | undefined): Promise<VerifyResult> => {
    if (token === undefined || token === '') return fail('missing', 'no-token');
    if (token.length > MAX_TOKEN_LENGTH) return fail('invalid', 'too-long');
    try {
      const { payload } = await jwtVerify(token, getKey, options);
      if (!isSubject(payload.sub)) return fail('invalid', 'sub');
      const claim = parseClaim(payload[settings.claim]);
      if (claim === undefined) return fail('invalid', 'claim');
      return { ok: true, sub: payload.sub, expiresAt: (payload.exp ?? 0) * 1000, claim };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return fail('expired', err.code);
      return fail('invalid', err instanceof errors.JOSEError ? err.code : 'key-unavailable');
    }
  };
  return { verify, prefetch: () => jwks?.prefetch() ?? Promise.resolve(true) };
}

/** Longest `sub` accepted: `user:<sub>` must be a valid filter (protocol/filters.ts MAX_FILTER_LENGTH). */
export const MAX_SUBJECT_LENGTH = MAX_FILTER_LENGTH - 'user:'.length;

/** A subject `user:<sub>` can name: non-empty, short enough, no control characters. */
function isSubject(sub: unknown): sub is string {
  return typeof sub === 'string' && sub !== '' && sub.length <= MAX_SUBJECT_LENGTH && parseFilter(`user:${sub}`).ok;
}

function fail(reason: VerifyFailure, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}

/** The key of the token's (pinned) algorithm; any other algorithm is refused as jose refuses it. */
function keyForAlgorithm(keys: ReadonlyMap<string, CryptoKey>): JWTVerifyGetKey {
  return (header) => {
    const k = keys.get(header.alg ?? '');
    if (k === undefined) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
    return k;
  };
}

async function keyOf(settings: JwtSettings, jwksOptions: JwksOptions): Promise<{ getKey: JWTVerifyGetKey; jwks?: JwksKeys }> {
  const source = settings.keySource;
  switch (source.kind) {
    case 'secret': {
      // Imported once per pinned algorithm: given raw bytes, jose would import them on every verify.
      const bytes = new TextEncoder().encode(source.secret);
      const keys = new Map<string, CryptoKey>();
      for (const alg of settings.algorithms) {
        keys.set(alg, await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']));
      }
      return { getKey: keyForAlgorithm(keys) };
    }
    case 'public-key': {
      // One CryptoKey per pinned algorithm: WebCrypto binds a key to its algorithm.
      const keys = new Map<string, CryptoKey>();
      for (const alg of settings.algorithms) keys.set(alg, await importSPKI(source.pem, alg));
      return { getKey: keyForAlgorithm(keys) };
    }
    case 'jwks': {
      const jwks = createJwksKeys(source.url, jwksOptions);
      return { getKey: jwks.getKey, jwks };
    }
  }
}

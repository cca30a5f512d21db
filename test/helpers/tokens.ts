/**
 * Tokens for tests, minted with jose as an application would: HS256 with a shared secret by
 * default, or any key and algorithm. `TEST_JWT_SECRET` is what test edges are configured with.
 */
import { SignJWT, type CryptoKey, type JWTPayload } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';

/** Environment for an edge that verifies TEST_JWT_SECRET tokens. */
export const JWT_ENV: Record<string, string> = { NOTIFIER_AUTH: 'jwt', NOTIFIER_JWT_SECRET: TEST_JWT_SECRET };

export interface MintOptions {
  sub?: string;
  /** The permissions claim (`notifier` unless `claimName`): filters, roles, scope. */
  claim?: { filters?: string[]; roles?: string[]; scope?: Record<string, unknown> };
  claimName?: string;
  /** Seconds from now (negative: already expired). Default 3600. */
  expiresIn?: number;
  alg?: string;
  key?: CryptoKey | Uint8Array;
  kid?: string;
  extra?: JWTPayload;
}

export async function mintToken(opts: MintOptions = {}): Promise<string> {
  const payload: JWTPayload = { ...opts.extra };
  if (opts.claim !== undefined) payload[opts.claimName ?? 'notifier'] = opts.claim;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', ...(opts.kid !== undefined ? { kid: opts.kid } : {}) })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expiresIn ?? 3600));
  if (opts.sub !== '') jwt.setSubject(opts.sub ?? 'user-1');
  return jwt.sign(opts.key ?? new TextEncoder().encode(TEST_JWT_SECRET));
}

/**
 * The keys of a JWKS URL (NOTIFIER_JWKS_URL), on jose's remote key set, with three duties:
 *
 * - Keys already fetched keep verifying while the key server is down. jose refetches a stale set
 *   before using it and fails when that fetch fails, so its cache never expires here
 *   (`cacheMaxAge: Infinity`); instead, a use of the set older than `refreshMs` starts a refresh
 *   in the background, and a failed refresh keeps the old keys. A key the issuer removed stops
 *   verifying within `refreshMs` (plus one use) while the server answers.
 * - An unknown `kid` refetches (key rotation), but fetches are at least `cooldownMs` apart,
 *   counted from the end of the last attempt, successful or not: a stream of tokens with made-up
 *   `kid`s, or a key server that is down or hangs, costs one request per cooldown, not one per
 *   token. Concurrent misses share one fetch (jose).
 * - Each fetch gives up after `timeoutMs`, so an upgrade waits at most that long.
 *
 * Fetch failures are logged (`edge:jwks:fetch:error`) with the URL's password masked; tokens
 * never reach this module's logs.
 *
 * Imports: jose and util/ only.
 */
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import { maskUrl } from '../../util/mask-url.js';

export interface JwksOptions {
  /** Abort a fetch after this long. Default 5000. */
  timeoutMs?: number;
  /** Minimum time between two fetches. Default 30000. */
  cooldownMs?: number;
  /** Refresh in the background when the keys are older than this. Default 600000 (10 min); at least cooldownMs. */
  refreshMs?: number;
  /** Where fetch failures go; must not be given tokens. */
  log?: AuthLog;
}

/** The part of the pino logger auth uses. */
export interface AuthLog {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface JwksKeys {
  /** jose's key resolver: the key for a token's header, fetching as described above. */
  readonly getKey: JWTVerifyGetKey;
  /** Fetches now unless a fetch is cooling down; resolves true when keys are available. Never throws. */
  prefetch(): Promise<boolean>;
}

/** Thrown (and turned into an invalid token) when a fetch is skipped during the cooldown. */
class JwksCoolingDown extends Error {
  override readonly name = 'JwksCoolingDown';
}

export function createJwksKeys(url: string, opts: JwksOptions = {}): JwksKeys {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const cooldownMs = opts.cooldownMs ?? 30_000;
  const refreshMs = Math.max(opts.refreshMs ?? 600_000, cooldownMs);
  const shownUrl = maskUrl(url);
  let lastAttempt = -Infinity;
  let lastSuccess = -Infinity;

  // Every fetch jose makes passes here: the attempt cooldown, logging, success time.
  const gatedFetch: FetchImplementation = async (href, init) => {
    const now = Date.now();
    if (now - lastAttempt < cooldownMs) throw new JwksCoolingDown('JWKS fetch cooling down');
    lastAttempt = now;
    try {
      const res = await fetch(href, init);
      if (res.status !== 200) {
        opts.log?.warn({ event: 'edge:jwks:fetch:error', url: shownUrl, status: res.status }, 'JWKS fetch answered other than 200; keeping the keys already fetched');
        return res;
      }
      // Read here so that a document that is no key set is logged too (jose would only refuse it).
      const text = await res.text();
      if (!isKeySet(text)) {
        opts.log?.warn({ event: 'edge:jwks:fetch:error', url: shownUrl, error: 'not a JSON Web Key Set' }, 'JWKS fetch returned no key set; keeping the keys already fetched');
      } else {
        lastSuccess = Date.now();
      }
      return new Response(text, { status: 200 });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      opts.log?.warn(
        { event: 'edge:jwks:fetch:error', url: shownUrl, error: timedOut ? `timed out after ${timeoutMs} ms` : describe(err) },
        'JWKS fetch failed; keeping the keys already fetched',
      );
      throw err;
    } finally {
      lastAttempt = Date.now(); // the cooldown runs from the end: a hanging server is not asked again at once
    }
  };

  const remote = createRemoteJWKSet(new URL(url), {
    timeoutDuration: timeoutMs,
    cooldownDuration: cooldownMs,
    cacheMaxAge: Infinity,
    [customFetch]: gatedFetch,
  });

  const refreshInBackground = () => {
    if (remote.reloading || Date.now() - lastAttempt < refreshMs) return;
    remote.reload().catch(() => undefined); // logged by gatedFetch; the old keys stay
  };

  const getKey: JWTVerifyGetKey = (header, token) => {
    if (lastSuccess > -Infinity && Date.now() - lastSuccess >= refreshMs) refreshInBackground();
    return remote(header, token);
  };

  return {
    getKey,
    async prefetch() {
      if (remote.jwks() !== undefined) return true;
      try {
        await remote.reload();
      } catch {
        // logged by gatedFetch
      }
      return remote.jwks() !== undefined;
    },
  };
}

function isKeySet(text: string): boolean {
  try {
    const doc = JSON.parse(text) as { keys?: unknown } | null;
    return typeof doc === 'object' && doc !== null && Array.isArray(doc.keys);
  } catch {
    return false;
  }
}

/** An error's message and its cause's code (ECONNREFUSED…): no URL query, no token. */
function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string } };
  return e.cause?.code !== undefined ? `${e.message} (${e.cause.code})` : e.message;
}

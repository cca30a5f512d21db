/**
 * Where a client's token comes from, read from the raw strings the upgrade handler takes
 * synchronously from uWebSockets.js (the request is gone after the first await):
 *
 * - `Authorization: Bearer <token>` (servers, native clients);
 * - `Sec-WebSocket-Protocol: notifier.v1, bearer.<token>` (browsers: the WebSocket constructor
 *   sets no other header). The edge answers `notifier.v1`, never the entry with the token: the
 *   answered subprotocol is echoed in responses, proxies' logs and the browser's `ws.protocol`;
 * - `?token=<token>` on the URL (last resort: URLs end up in access logs).
 *
 * Two carriers with different tokens are a conflict, refused as an invalid token: a proxy that
 * checked one of them must not let the edge act on the other. The same token twice is fine.
 *
 * Pure; imports nothing.
 */

export type TokenCarrier = 'authorization' | 'protocol' | 'query';

/** The subprotocol this edge speaks; a client that sends its token in the protocol header offers it too. */
export const NOTIFIER_SUBPROTOCOL = 'notifier.v1';
const BEARER_PREFIX = 'bearer.';

export interface RequestCarriers {
  /** The URL's query string without `?` (uWS `getQuery()`; undefined or '' when absent). */
  query?: string | undefined;
  /** The `authorization` header ('' when absent, as uWS `getHeader` answers). */
  authorization?: string | undefined;
  /** The `sec-websocket-protocol` header ('' when absent). */
  protocol?: string | undefined;
}

export interface CarriedToken {
  /** The token, or undefined when none was given or the carriers disagree. */
  token: string | undefined;
  /** Where the token came from (the first carrier found, in the order above). */
  carrier: TokenCarrier | undefined;
  /** True when carriers hold different tokens: refuse the upgrade as an invalid token. */
  conflict: boolean;
  /**
   * The subprotocol to answer: `notifier.v1` when the client offered it, else undefined. A client
   * that offered subprotocols and gets none back fails the handshake (browsers), so a token sent
   * as `bearer.<token>` without `notifier.v1` cannot succeed: the edge must not echo the token.
   */
  protocol: typeof NOTIFIER_SUBPROTOCOL | undefined;
}

/** Reads the token from the three carriers. Never throws; malformed carriers read as absent. */
export function extractToken(req: RequestCarriers): CarriedToken {
  const offered = (req.protocol ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const found: [TokenCarrier, string][] = [];
  const bearer = bearerOf(req.authorization);
  if (bearer !== undefined) found.push(['authorization', bearer]);
  for (const entry of offered) {
    if (entry.length > BEARER_PREFIX.length && entry.slice(0, BEARER_PREFIX.length).toLowerCase() === BEARER_PREFIX) {
      found.push(['protocol', entry.slice(BEARER_PREFIX.length)]);
    }
  }
  for (const t of queryTokens(req.query)) found.push(['query', t]);

  const protocol = offered.includes(NOTIFIER_SUBPROTOCOL) ? NOTIFIER_SUBPROTOCOL : undefined;
  const first = found[0];
  if (first === undefined) return { token: undefined, carrier: undefined, conflict: false, protocol };
  if (found.some(([, t]) => t !== first[1])) return { token: undefined, carrier: first[0], conflict: true, protocol };
  return { token: first[1], carrier: first[0], conflict: false, protocol };
}

/** `Bearer <token>`, scheme case-insensitive (RFC 7235); anything else is not a bearer token. */
function bearerOf(header: string | undefined): string | undefined {
  const m = /^\s*bearer[ \t]+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

function queryTokens(query: string | undefined): string[] {
  if (query === undefined || query === '') return [];
  try {
    return new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).getAll('token').filter((t) => t !== '');
  } catch {
    return [];
  }
}

/**
 * The subprotocol the edge answers: `notifier.v1` when offered; else the first offered entry that
 * is not a token (clients that send a protocol of their own keep working); else none. Never a
 * `bearer.` entry: the answer is echoed in responses, proxies' logs and the browser's `ws.protocol`.
 */
export function answeredProtocol(header: string | undefined): string {
  const offered = (header ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (offered.includes(NOTIFIER_SUBPROTOCOL)) return NOTIFIER_SUBPROTOCOL;
  return offered.find((s) => s.slice(0, BEARER_PREFIX.length).toLowerCase() !== BEARER_PREFIX) ?? '';
}

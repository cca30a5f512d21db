/**
 * What a browser's request says about where it comes from, checked against the operator's lists:
 * the WebSocket upgrade's `Origin` (NOTIFIER_ALLOWED_ORIGINS) and the `Host` of the live page and
 * POST /api/notify (NOTIFIER_ALLOWED_HOSTS: a DNS-rebound name is not on it). Pure.
 *
 * May import nothing.
 */

/** The `host[:port]` of `origin`'s URL as the browser would address `host` ('' when unparsable). */
function hostOf(scheme: string, host: string): string {
  try {
    return new URL(`${scheme}//${host}`).host;
  } catch {
    return '';
  }
}

/**
 * An upgrade's Origin may connect: none (not a browser), `*` listed, the origin listed, or the
 * same origin as the request (its host[:port] is the Host header: the live page served by this
 * edge, or through a proxy that keeps Host). `allowed` undefined: same-origin only.
 */
export function originAllowed(origin: string, host: string, allowed: readonly string[] | undefined): boolean {
  if (origin === '') return true;
  if (allowed !== undefined && (allowed.includes('*') || allowed.includes(origin))) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (sandboxed frames, file:) and anything else unparsable
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return host !== '' && url.host === hostOf(url.protocol, host);
}

/**
 * The Host header's name without its port is on the list (case-insensitive); a missing Host never
 * is. `[::1]:8080` → `[::1]`.
 */
export function hostAllowed(hostHeader: string, allowedHosts: readonly string[]): boolean {
  const name = hostName(hostHeader.trim()).toLowerCase();
  return name !== '' && allowedHosts.some((h) => h.toLowerCase() === name);
}

function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? '' : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

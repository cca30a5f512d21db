/**
 * The client's address for admission (per-IP limits and upgrade rate): the socket's peer, or,
 * only when that peer is a trusted proxy (NOTIFIER_TRUSTED_PROXIES), what the proxy says — the
 * PROXY protocol v2 header (uWS 20.30 parses it when present: getProxiedRemoteAddressAsText), then
 * X-Forwarded-For (every line of it), read from the right: the first hop that is not a trusted proxy is the client.
 *
 * uWS parses a PROXY v2 header from any peer, so the proxied address counts only behind a trusted
 * socket peer. PROXY v1 (text) is not understood: uWS drops such a connection.
 *
 * May import util (cidr) and uws (types) only.
 */
import { Networks, unmapIpv4 } from '../util/cidr.js';
import type { Uws } from './uws.js';

/** Reads the client address of an upgrade request; '' when nothing needs it (keeps peers shared). */
export type ClientAddressFn = (res: Uws.HttpResponse, req: Uws.HttpRequest) => string;

export interface ClientAddressSettings {
  trustedProxies: readonly string[];
  /** Whether anything reads the address (a per-IP limit or rate): else '' and no string per connection. */
  tracked: boolean;
}

const text = (b: ArrayBuffer): string => Buffer.from(b).toString('latin1');

/** uWS writes IPv6 in full (0000:…:ffff:a.b.c.d for mapped IPv4); shown as IPv4 or compressed. */
export function normalizeAddress(address: string): string {
  if (address.startsWith('0000:0000:0000:0000:0000:ffff:')) return address.slice(30);
  return unmapIpv4(address);
}

/** The socket's peer address as text (IPv4-mapped IPv6 shown as IPv4). */
export function socketAddress(res: Uws.HttpResponse): string {
  return normalizeAddress(text(res.getRemoteAddressAsText()));
}

/**
 * The rightmost hop that is not a trusted proxy, in the chain XFF entries → PROXY address → socket.
 * Each hop is believed only when the hop to its right is trusted. All trusted: the leftmost.
 */
export function resolveClientAddress(socket: string, proxied: string, forwardedFor: string, trusted: Networks): string {
  if (trusted.empty || !trusted.has(socket)) return socket;
  const hops = forwardedFor
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  if (proxied !== '') hops.push(proxied);
  let client = socket;
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = normalizeAddress(stripPort(hops[i]!));
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`; a bare IPv6 address unchanged. */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    return end < 0 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(':');
  return colon >= 0 && colon === hop.lastIndexOf(':') ? hop.slice(0, colon) : hop;
}

export function clientAddress(settings: ClientAddressSettings): ClientAddressFn {
  if (!settings.tracked) return () => '';
  const trusted = new Networks(settings.trustedProxies);
  if (trusted.empty) return (res) => socketAddress(res);
  return (res, req) => {
    const socket = socketAddress(res);
    if (!trusted.has(socket)) return socket;
    return resolveClientAddress(socket, normalizeAddress(text(res.getProxiedRemoteAddressAsText())), forwardedFor(req), trusted);
  };
}

/**
 * Every X-Forwarded-For line, in order, as one list: a proxy may append its own line after the
 * client's, and getHeader returns only the first (the one a client can forge).
 */
function forwardedFor(req: Uws.HttpRequest): string {
  const lines: string[] = [];
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') lines.push(value);
  });
  return lines.join(',');
}

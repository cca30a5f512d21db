/**
 * The client's address for admission (per-IP limits) and logs: the socket's peer address.
 *
 * May import uws (types) only.
 */
import type { Uws } from './uws.js';

/** The socket's peer address as text (IPv4-mapped IPv6 shown as IPv4). */
export function socketAddress(res: Uws.HttpResponse): string {
  const text = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  return text.startsWith('0000:0000:0000:0000:0000:ffff:') ? text.slice(30) : text;
}

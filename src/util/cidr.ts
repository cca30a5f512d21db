/**
 * IP addresses and CIDR blocks (NOTIFIER_TRUSTED_PROXIES): parsing for config validation, and a
 * set of networks to test a peer address against, on node:net's BlockList.
 *
 * Imports: node:net only.
 */
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128); undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { family: version === 4 ? 'ipv4' : 'ipv6', address, prefix };
}

/** A set of networks; `has` answers for an address in text form (IPv4-mapped IPv6 counts as IPv4). */
export class Networks {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (c === undefined) throw new Error(`not an IP address or CIDR block: ${text}`);
      this.list.addSubnet(c.address, c.prefix, c.family);
    }
    this.empty = cidrs.length === 0;
  }

  has(address: string): boolean {
    if (this.empty) return false;
    const v4 = unmapIpv4(address);
    const version = isIP(v4);
    if (version === 0) return false;
    return this.list.check(v4, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** `::ffff:10.1.2.3` → `10.1.2.3`; other addresses unchanged. */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

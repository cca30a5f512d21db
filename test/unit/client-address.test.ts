import { describe, expect, it } from 'vitest';
import { normalizeAddress, resolveClientAddress } from '../../src/edge/client-address.js';
import { Networks } from '../../src/util/cidr.js';

const trusted = new Networks(['127.0.0.1/32', '10.0.0.0/8']);

describe('resolveClientAddress', () => {
  it('is the socket peer when that peer is not a trusted proxy, whatever it claims', () => {
    expect(resolveClientAddress('203.0.113.9', '198.51.100.1', '1.2.3.4', trusted)).toBe('203.0.113.9');
    expect(resolveClientAddress('203.0.113.9', '', '', new Networks([]))).toBe('203.0.113.9');
  });

  it('takes the PROXY protocol address from a trusted peer before X-Forwarded-For', () => {
    expect(resolveClientAddress('127.0.0.1', '198.51.100.1', '', trusted)).toBe('198.51.100.1');
    expect(resolveClientAddress('127.0.0.1', '198.51.100.1', '6.6.6.6', trusted)).toBe('198.51.100.1');
  });

  it('takes the rightmost untrusted X-Forwarded-For hop: a client cannot forge its way past the proxy', () => {
    expect(resolveClientAddress('127.0.0.1', '', '198.51.100.7', trusted)).toBe('198.51.100.7');
    expect(resolveClientAddress('127.0.0.1', '', '6.6.6.6, 198.51.100.7', trusted)).toBe('198.51.100.7');
    expect(resolveClientAddress('127.0.0.1', '', '6.6.6.6, 198.51.100.7, 10.1.2.3', trusted)).toBe('198.51.100.7');
    expect(resolveClientAddress('127.0.0.1', '10.9.9.9', '198.51.100.7', trusted)).toBe('198.51.100.7');
  });

  it('reads hops with ports and IPv6 forms; all trusted gives the leftmost', () => {
    expect(resolveClientAddress('127.0.0.1', '', '198.51.100.7:4444', trusted)).toBe('198.51.100.7');
    expect(resolveClientAddress('127.0.0.1', '', '[2001:db8::1]:4444', trusted)).toBe('2001:db8::1');
    expect(resolveClientAddress('127.0.0.1', '', '2001:db8::1', trusted)).toBe('2001:db8::1');
    expect(resolveClientAddress('127.0.0.1', '', '10.0.0.2, 10.0.0.1', trusted)).toBe('10.0.0.2');
    expect(resolveClientAddress('127.0.0.1', '', '', trusted)).toBe('127.0.0.1');
  });

  it('shows IPv4-mapped IPv6 as IPv4, as uWS spells it and as Node does', () => {
    expect(normalizeAddress('0000:0000:0000:0000:0000:ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(resolveClientAddress('127.0.0.1', '', '::ffff:198.51.100.7', trusted)).toBe('198.51.100.7');
  });
});

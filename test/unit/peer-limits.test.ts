import { describe, expect, it } from 'vitest';
import { Admission, type AdmissionConfig } from '../../src/edge/admission.js';
import { OpenCounts, RateBuckets } from '../../src/edge/peer-limits.js';
import { ANONYMOUS, anonymousFrom } from '../../src/edge/peer.js';
import type { Peer } from '../../src/edge/transport.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';

describe('OpenCounts', () => {
  it('counts per key and holds no entry for a key at zero', () => {
    const c = new OpenCounts();
    c.add('a');
    c.add('a');
    c.add('b');
    expect([c.get('a'), c.get('b'), c.size]).toEqual([2, 1, 2]);
    c.remove('a');
    c.remove('b');
    c.remove('a');
    expect(c.size).toBe(0);
  });
});

describe('RateBuckets', () => {
  it('allows a burst of perSecond, then refills at perSecond', () => {
    let now = 0;
    const r = new RateBuckets(3, () => now);
    expect([r.take('ip'), r.take('ip'), r.take('ip'), r.take('ip')]).toEqual([true, true, true, false]);
    expect(r.take('other')).toBe(true);
    now = 340;
    expect(r.take('ip')).toBe(true);
    expect(r.take('ip')).toBe(false);
  });

  it('drops the buckets of idle addresses: memory follows the addresses seen in the last seconds', () => {
    let now = 0;
    const r = new RateBuckets(5, () => now);
    for (let i = 0; i < 10_000; i++) r.take(`10.0.${i >> 8}.${i & 255}`);
    expect(r.size).toBe(10_000);
    now = 1100;
    r.take('fresh');
    expect(r.size).toBe(1);
  });
});

const peer = (sub: string | undefined, ip = ''): Peer => ({ ...ANONYMOUS, sub, ip });
const reasons = async (m: Metrics) => Object.fromEntries((await m.rejectedConnections.get()).values.map((v) => [v.labels['reason'], v.value]));

function admission(over: Partial<AdmissionConfig>, now?: () => number) {
  const metrics = createMetrics();
  const config: AdmissionConfig = { maxConnections: 100, allowedOrigins: undefined, maxConnectionsPerIp: 0, maxConnectionsPerUser: 0, maxUpgradesPerIpPerSecond: 0, ...over };
  const a = new Admission(config, metrics, { draining: () => false, positionKnown: () => true, connections: () => 0 }, now);
  return { a, metrics };
}
const request = (ip: string, origin = '', host = 'edge.example.com') => ({ ip, origin, host });

describe('Admission limits', () => {
  it('refuses an unlisted Origin with 403 and counts reason origin', async () => {
    const { a, metrics } = admission({ allowedOrigins: ['https://app.example.com'] });
    expect(a.arrive(request('', 'https://evil.example'))).toMatchObject({ status: '403 Forbidden', error: expect.stringContaining('NOTIFIER_ALLOWED_ORIGINS') });
    expect(a.arrive(request('', 'https://app.example.com'))).toBeUndefined();
    expect(a.arrive(request(''))).toBeUndefined();
    expect(await reasons(metrics)).toEqual({ origin: 1 });
  });

  it('per IP: 429 naming the limit once the address holds the maximum; a close frees a place', async () => {
    const { a, metrics } = admission({ maxConnectionsPerIp: 2 });
    const p = anonymousFrom('198.51.100.1');
    for (let i = 0; i < 2; i++) {
      expect(a.arrive(request(p.ip))).toBeUndefined();
      a.opened(p);
    }
    expect(a.arrive(request(p.ip))).toMatchObject({ status: '429 Too Many Requests', reason: 'per_ip', error: expect.stringContaining('NOTIFIER_MAX_CONNECTIONS_PER_IP is 2') });
    expect(a.decide(request('198.51.100.2'))).toBeUndefined();
    a.closed(p);
    expect(a.decide(request(p.ip))).toBeUndefined();
    a.closed(p);
    expect(a.tracked.ips).toBe(0);
    expect(await reasons(metrics)).toEqual({ per_ip: 1 });
  });

  it('per user: authenticated peers only', async () => {
    const { a, metrics } = admission({ maxConnectionsPerUser: 1 });
    a.opened(peer('alice'));
    expect(a.decideUser(peer('alice'))).toMatchObject({ status: '429 Too Many Requests', reason: 'per_user', error: expect.stringContaining('NOTIFIER_MAX_CONNECTIONS_PER_USER is 1') });
    expect(a.decideUser(peer('bob'))).toBeUndefined();
    a.opened(ANONYMOUS);
    a.opened(ANONYMOUS);
    expect(a.decideUser(ANONYMOUS)).toBeUndefined();
    a.closed(peer('alice'));
    expect(a.decideUser(peer('alice'))).toBeUndefined();
    expect(a.tracked.users).toBe(0);
    expect(await reasons(metrics)).toEqual({ per_user: 1 });
  });

  it('upgrade rate per IP: counted once per request (arrive), not by the re-check after the token', async () => {
    let now = 0;
    const { a, metrics } = admission({ maxUpgradesPerIpPerSecond: 2 }, () => now);
    expect(a.arrive(request('198.51.100.1'))).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(a.decide(request('198.51.100.1'))).toBeUndefined();
    expect(a.arrive(request('198.51.100.1'))).toBeUndefined();
    expect(a.arrive(request('198.51.100.1'))).toMatchObject({ status: '429 Too Many Requests', reason: 'upgrade_rate' });
    expect(a.arrive(request('198.51.100.2'))).toBeUndefined();
    now = 600;
    expect(a.arrive(request('198.51.100.1'))).toBeUndefined();
    expect(await reasons(metrics)).toEqual({ upgrade_rate: 1 });
  });

  it('tracks addresses only when a per-IP limit or rate is set (shared ANONYMOUS peer otherwise)', () => {
    const base = { maxConnections: 1, allowedOrigins: undefined, maxConnectionsPerUser: 5 };
    expect(Admission.tracksAddresses({ ...base, maxConnectionsPerIp: 0, maxUpgradesPerIpPerSecond: 0 })).toBe(false);
    expect(Admission.tracksAddresses({ ...base, maxConnectionsPerIp: 1, maxUpgradesPerIpPerSecond: 0 })).toBe(true);
    expect(Admission.tracksAddresses({ ...base, maxConnectionsPerIp: 0, maxUpgradesPerIpPerSecond: 1 })).toBe(true);
  });
});

/** `notifier start`'s banner says which authentication is in effect, and never a key. */
import { describe, expect, it } from 'vitest';
import { embeddedBanner, type BannerInput } from '../../src/embedded/banner.js';

const base: Omit<BannerInput, 'auth'> = { databaseUrl: 'postgresql://postgres:pw@127.0.0.1:5433/postgres', dataDir: '/tmp/x/.notifier/postgres', edgePort: 8080, livePage: true };
const webSocketLine = (banner: string) => banner.split('\n').find((l) => l.includes('WebSocket'));

describe('embeddedBanner', () => {
  it('NOTIFIER_AUTH=none (start’s default): says there is no authentication', () => {
    const banner = embeddedBanner({ ...base, auth: { mode: 'none' } });
    expect(webSocketLine(banner)).toBe('  WebSocket     ws://localhost:8080/ws  (no authentication: NOTIFIER_AUTH=none)');
    expect(banner).not.toContain('token');
  });

  it('NOTIFIER_AUTH=jwt: says tokens are required, the algorithms and the key setting, and the carriers', () => {
    const banner = embeddedBanner({ ...base, auth: { mode: 'jwt', algorithms: ['HS256', 'HS384'], keySource: 'secret' } });
    expect(webSocketLine(banner)).toBe('  WebSocket     ws://localhost:8080/ws  (tokens required: NOTIFIER_AUTH=jwt, HS256/HS384 from NOTIFIER_JWT_SECRET)');
    expect(banner).toContain('?token=…, Authorization: Bearer …, or Sec-WebSocket-Protocol: notifier.v1, bearer.…');
    expect(banner).not.toContain('no authentication');
    expect(embeddedBanner({ ...base, auth: { mode: 'jwt', algorithms: ['ES256'], keySource: 'public-key' } })).toContain('ES256 from NOTIFIER_JWT_PUBLIC_KEY');
    expect(embeddedBanner({ ...base, auth: { mode: 'jwt', algorithms: ['RS256'], keySource: 'jwks' } })).toContain('RS256 from NOTIFIER_JWKS_URL');
  });
});

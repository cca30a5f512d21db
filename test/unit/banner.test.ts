import { describe, expect, it } from 'vitest';
import { embeddedBanner } from '../../src/embedded/banner.js';

describe('embeddedBanner', () => {
  const base = { databaseUrl: 'postgresql://u@127.0.0.1:5/db', dataDir: '/tmp/x', edgePort: 8080, livePage: true };
  it('says which authentication the WebSocket URL expects', () => {
    expect(embeddedBanner({ ...base, auth: 'none' })).toContain('ws://localhost:8080/ws  (no authentication: NOTIFIER_AUTH=none)');
    const jwt = embeddedBanner({ ...base, auth: 'jwt' });
    expect(jwt).toContain('ws://localhost:8080/ws  (clients present a token: NOTIFIER_AUTH=jwt)');
    expect(jwt).not.toContain('no authentication');
  });
});

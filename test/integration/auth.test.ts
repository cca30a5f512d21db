/**
 * Authentication on a real edge (in-process, on an in-memory bus): tokens at the upgrade in all
 * three carriers, 401 without a socket, permissions on subscribe and resume, welcome's identity,
 * tenant scopes in live delivery and replay, refresh and expiry.
 */
import { connect as tcpConnect } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { jwtSettings } from '../../src/config/jwt-settings.js';
import type { Config } from '../../src/config/schema.js';
import { Authenticator } from '../../src/edge/auth/authenticator.js';
import { createEdgeAuthenticator } from '../../src/edge/auth/edge-authenticator.js';
import { createTokenVerifier } from '../../src/edge/auth/token-verifier.js';
import { compileRoles } from '../../src/protocol/permissions.js';
import { Edge } from '../../src/edge/edge.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { JWT_ENV, mintToken } from '../helpers/tokens.js';
import { TestClient, upgradeAnswer } from '../helpers/ws-client.js';

let running: { edge: Edge; clients: TestClient[] }[] = [];
afterEach(async () => {
  for (const r of running) {
    r.clients.forEach((c) => c.close());
    await r.edge.stop();
  }
  running = [];
});

async function startEdge(env: Record<string, string> = {}, verifyDelayMs = 0) {
  const config = loadConfig({ env: { PORT: '0', HOST: '127.0.0.1', NOTIFIER_DRAIN_SECONDS: '0', ...JWT_ENV, ...env } });
  const logger = pino({ level: 'silent' });
  const metrics = createMetrics();
  const bus = new MemoryBus();
  const authenticator = verifyDelayMs > 0 ? await slowAuthenticator(config, verifyDelayMs) : await createEdgeAuthenticator(config, logger);
  const edge = new Edge({ config, bus, logger, metrics, authenticator });
  await edge.start();
  const r = { edge, bus, metrics, clients: [] as TestClient[], url: `ws://127.0.0.1:${edge.port}/ws` };
  running.push(r);
  const connect = async (token: string | undefined, opts: Parameters<typeof TestClient.connect>[1] = {}) => {
    const c = await TestClient.connect(token === undefined ? r.url : `${r.url}?token=${encodeURIComponent(token)}`, opts);
    r.clients.push(c);
    return c;
  };
  return { ...r, connect };
}

/** The configured verifier, answering `delayMs` late: as a JWKS fetch would. */
async function slowAuthenticator(config: Config, delayMs: number): Promise<Authenticator> {
  const settings = jwtSettings(config);
  if (settings === undefined) throw new Error('jwt settings');
  const verifier = await createTokenVerifier(settings);
  const roles = compileRoles(config.authRoles);
  if (!roles.ok) throw new Error('roles');
  return new Authenticator({
    verifier: { ...verifier, verify: async (t) => (await sleep(delayMs), verifier.verify(t)) },
    roles: roles.roles,
    scopeFields: config.scopeFields,
  });
}

function item(i: number, fields: Record<string, unknown> = {}): PublishItem {
  const { envelope, keys } = envelopeFromValue('thing_changed', { entity_type: 'thing', entity_id: i, ...fields }, new Date());
  return { id: `id-${i}-${Math.random()}`, head: frameHead(envelope), keys, notificationType: 'thing_changed', sourceTime: Date.now() };
}

describe('tokens at the upgrade', () => {
  it('answers 401 with the reason and opens no socket for a missing, malformed, forged or expired token', async () => {
    const r = await startEdge();
    const forged = await mintToken({ key: new TextEncoder().encode('another-secret-that-is-32-bytes-long!!') });
    const expired = await mintToken({ expiresIn: -60 });
    const cases: [string, Record<string, string>, string][] = [
      [r.url, {}, 'missing'],
      [`${r.url}?token=not.a.jwt`, {}, 'invalid'],
      [`${r.url}?token=${forged}`, {}, 'invalid'],
      [r.url, { authorization: `Bearer ${expired}` }, 'expired'],
      [`${r.url}?token=${await mintToken({ sub: 'a' })}`, { authorization: `Bearer ${await mintToken({ sub: 'b' })}` }, 'invalid'],
    ];
    for (const [url, headers, reason] of cases) {
      const a = await upgradeAnswer(url, headers);
      expect({ url: url.replace(/token=.*/, 'token=…'), status: a.status, upgraded: a.upgraded }).toEqual({ url: url.replace(/token=.*/, 'token=…'), status: 401, upgraded: false });
      expect(JSON.parse(a.body)).toEqual({ error: 'unauthorized', reason });
    }
    expect(r.edge.stats()['connected_clients']).toBe(0);
    const failures = (await r.metrics.authFailures.get()).values.map((v) => [v.labels['reason'], v.value]);
    expect(Object.fromEntries(failures)).toEqual({ missing: 1, invalid: 3, expired: 1 });
  });

  it('accepts the three carriers; the protocol carrier is answered notifier.v1, never the token', async () => {
    const r = await startEdge();
    const token = await mintToken({ sub: '42' });
    const viaQuery = await r.connect(token);
    const viaHeader = await r.connect(undefined, { headers: { authorization: `Bearer ${token}` } });
    const viaProtocol = await r.connect(undefined, { protocols: ['notifier.v1', `bearer.${token}`] });
    for (const c of [viaQuery, viaHeader, viaProtocol]) expect(c.welcome).toMatchObject({ type: 'welcome', user_id: '42', expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(viaProtocol.ws.protocol).toBe('notifier.v1');
    const raw = await upgradeAnswer(r.url, { 'sec-websocket-protocol': `notifier.v1, bearer.${token}` });
    expect(raw.upgraded).toBe(true);
    expect(raw.headers['sec-websocket-protocol']).toBe('notifier.v1');
    expect(JSON.stringify(raw.headers)).not.toContain(token.slice(-20));
  });

  it('survives upgrades aborted while their token is verified (the response is never touched after abort)', async () => {
    const r = await startEdge({}, 150);
    const token = await mintToken();
    const u = new URL(r.url);
    const upgrade = `GET /ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          new Promise<void>((resolve) => {
            const socket = tcpConnect(Number(u.port), '127.0.0.1', () => {
              socket.write(upgrade);
              setTimeout(() => socket.resetAndDestroy(), 20);
            });
            socket.on('close', () => resolve());
            socket.on('error', () => undefined);
          }),
      ),
    );
    // Still serving, and no aborted upgrade left a connection behind.
    const c = await r.connect(token);
    await c.subscribe('user:user-1');
    c.close();
    await expect.poll(() => r.edge.stats()['connected_clients'], { timeout: 5000 }).toBe(0);
  });
});

describe('permissions', () => {
  it('allows user:<sub> and the claim’s patterns; anything else is forbidden and changes nothing', async () => {
    const r = await startEdge({ NOTIFIER_AUTH_ROLES: JSON.stringify({ viewer: ['entity_type:*'] }) });
    const c = await r.connect(await mintToken({ sub: '7', claim: { filters: ['notification_type:thing_changed'], roles: ['viewer'] } }));
    await c.subscribe('user:7');
    await c.subscribe('entity_type:thing');
    await c.subscribe('notification_type:thing_changed');
    for (const filter of ['all', 'user:8', 'entity:thing:1']) {
      c.send({ type: 'subscribe', filter });
      expect(await c.next((m) => m['type'] === 'error')).toEqual({ type: 'error', code: 'forbidden', filter, message: `the token does not allow ${filter}` });
    }
    expect(r.edge.stats()['total_subscriptions']).toBe(3);
    expect((await r.metrics.forbiddenSubscribes.get()).values[0]?.value).toBe(3);
    await r.bus.publish([item(1, { user_id: 8 }), item(2, { entity_type: 'other', user_id: 7 })]);
    expect((await c.waitForNotifications(2)).map((n) => n['entity_id'])).toEqual([1, 2]);
  });

  it('refuses a resume naming a forbidden filter, changing nothing: the client may resume again', async () => {
    const r = await startEdge();
    const c = await r.connect(await mintToken({ sub: '7', claim: { filters: ['entity_type:thing'] } }));
    const epoch = String(c.welcome['epoch']);
    c.send({ type: 'resume', epoch, offset: '0-0', filters: ['entity_type:thing', 'all'] });
    expect(await c.next((m) => m['type'] === 'error')).toMatchObject({ code: 'forbidden', filter: 'all' });
    expect(await c.resume(epoch, String(c.welcome['offset'] ?? '0-0'), ['entity_type:thing'])).toMatchObject({ type: expect.stringMatching(/resumed|reset/) });
  });
});

describe('tenant scopes', () => {
  it('delivers only the token’s tenant, whatever its filters, live and in replay; unscoped needs the permission', async () => {
    const r = await startEdge({ NOTIFIER_SCOPE_FIELDS: 'tenant_id' });
    const acme = await r.connect(await mintToken({ sub: 'a', claim: { filters: ['all'], scope: { tenant_id: 'acme' } } }));
    const other = await r.connect(await mintToken({ sub: 'b', claim: { filters: ['all'], scope: { tenant_id: 42 } } }));
    const ops = await r.connect(await mintToken({ sub: 'ops', claim: { filters: ['all', 'unscoped'] } }));
    const noScope = await upgradeAnswer(`${r.url}?token=${await mintToken({ sub: 'x', claim: { filters: ['all'] } })}`);
    expect([noScope.status, JSON.parse(noScope.body)]).toEqual([401, { error: 'unauthorized', reason: 'invalid' }]);
    const badScope = await upgradeAnswer(`${r.url}?token=${await mintToken({ sub: 'x', claim: { scope: { region: 'eu' } } })}`);
    expect(badScope.status).toBe(401);
    for (const c of [acme, other, ops]) await c.subscribe('all');
    await acme.subscribe('entity_type:thing');
    const start = acme.lastOffset;
    await r.bus.publish([item(1, { tenant_id: 'acme' }), item(2, { tenant_id: 42 }), item(3), item(4, { payload: 'x', tenant_id: 'acme2' }), item(5, { tenant_id: '42' })]);
    await r.bus.publish([item(6, { nested: { tenant_id: 'acme' } }), item(7, { tenant_id: 'acme', user_id: 'a' })]);
    expect((await ops.waitForNotifications(7)).length).toBe(7);
    expect((await acme.waitForNotifications(2)).map((n) => n['entity_id'])).toEqual([1, 7]);
    expect((await other.waitForNotifications(2)).map((n) => n['entity_id'])).toEqual([2, 5]);
    // Replay keeps the scope: a fresh acme connection resuming from before sees only acme's.
    const again = await r.connect(await mintToken({ sub: 'a', claim: { filters: ['all'], scope: { tenant_id: 'acme' } } }));
    expect(await again.resume(String(acme.welcome['epoch']), start, ['all'])).toMatchObject({ type: 'resumed', replayed: 2 });
    expect(again.notifications.map((n) => n['entity_id'])).toEqual([1, 7]);
    expect(acme.notifications.length + other.notifications.length).toBe(4);
  });
});

describe('token lifetime', () => {
  it('refresh: same subject recomputes permissions, dropping what is no longer allowed; another subject closes 4500', async () => {
    const r = await startEdge({ NOTIFIER_SCOPE_FIELDS: 'tenant_id' });
    const c = await r.connect(await mintToken({ sub: 'u', claim: { filters: ['entity_type:*', 'notification_type:*'], scope: { tenant_id: 't1' } } }));
    await c.subscribe('entity_type:thing');
    await c.subscribe('notification_type:thing_changed');
    await c.subscribe('user:u');
    c.send({ type: 'refresh', token: await mintToken({ sub: 'u', expiresIn: 7200, claim: { filters: ['notification_type:*'], scope: { tenant_id: 't2' } } }) });
    expect(await c.next((m) => m['type'] === 'unsubscribed')).toEqual({ type: 'unsubscribed', filter: 'entity_type:thing', reason: 'forbidden' });
    const refreshed = await c.first((m) => m['type'] === 'refreshed');
    expect(Date.parse(String(refreshed['expires_at']))).toBeGreaterThan(Date.now() + 7000_000);
    // The new scope routes: t2's notifications arrive, t1's no longer.
    await r.bus.publish([item(1, { tenant_id: 't1' }), item(2, { tenant_id: 't2' })]);
    expect((await c.waitForNotifications(1)).map((n) => n['entity_id'])).toEqual([2]);
    c.send({ type: 'refresh', token: await mintToken({ sub: 'u', expiresIn: -30 }) });
    expect(await c.next((m) => m['type'] === 'error')).toMatchObject({ code: 'unauthorized', reason: 'expired' });
    c.send({ type: 'refresh', token: await mintToken({ sub: 'someone-else', claim: { scope: { tenant_id: 't2' } } }) });
    expect(await c.closed()).toBe(4500);
    const outcomes = Object.fromEntries((await r.metrics.tokenRefreshes.get()).values.map((v) => [v.labels['outcome'], v.value]));
    expect(outcomes).toEqual({ ok: 1, expired: 1, subject_changed: 1 });
  });

  it('closes with 4004 once the token expires (plus the tolerance)', async () => {
    const r = await startEdge({ NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS: '0', NOTIFIER_SLOW_CONSUMER_CHECK_MS: '50' });
    const c = await r.connect(await mintToken({ expiresIn: 2 }));
    const opened = Date.now();
    expect(await c.closed(6000)).toBe(4004);
    expect(Date.now() - opened).toBeLessThan(3500);
    expect((await r.metrics.tokenExpiryCloses.get()).values[0]?.value).toBe(1);
  });

  it('an edge without authentication answers refresh with refresh_unavailable', async () => {
    const r = await startEdge({ NOTIFIER_AUTH: 'none', NOTIFIER_JWT_SECRET: '' });
    const c = await r.connect(undefined);
    expect(c.welcome['user_id']).toBeUndefined();
    c.send({ type: 'refresh', token: 'x' });
    expect(await c.next((m) => m['type'] === 'error')).toMatchObject({ code: 'refresh_unavailable' });
    await c.subscribe('all');
  });
});

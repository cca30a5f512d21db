/**
 * Routing under tokens on a real edge (issue 14 §8, first bullet, second half): an in-process
 * Edge with NOTIFIER_AUTH=jwt and NOTIFIER_SCOPE_FIELDS=tenant_id on a MemoryBus. 200 clients
 * with random HS256 tokens (subjects, filter patterns, roles, tenant scopes or `unscoped`), over
 * the three carriers, send random subscribes, forbidden ones included; 2,000 random notifications
 * (routing keys, tenant in the payload or not) go through the bus. Each client gets exactly the
 * notifications its accepted filters match and its scope allows, in order, once; each subscribe
 * is answered `subscribed` or `forbidden` as the token says; tokens without a scope (and without
 * `unscoped`) are refused with 401 before any socket opens.
 *
 * Randomness is seeded: a failure names the seed and replays the same run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createEdgeAuthenticator } from '../../src/edge/auth/edge-authenticator.js';
import { Edge } from '../../src/edge/edge.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { JWT_ENV, mintToken } from '../helpers/tokens.js';
import { TestClient, upgradeAnswer, type Message } from '../helpers/ws-client.js';

const SEED = 20_014;
const CLIENTS = 200;
const REFUSED = 20;
const NOTIFICATIONS = 2_000;

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
const some = <T>(xs: readonly T[], max: number): T[] => Array.from({ length: Math.floor(random() * (max + 1)) }, () => pick(xs));

const ROLES: Record<string, string[]> = { ops: ['all'], viewer: ['entity_type:*'], support: ['notification_type:*', 'unscoped'], auditor: ['entity:x:*', 'user:*'] };
/** Tenants: 42 (a number in payloads) and "42" (a string in some tokens) are the same scope. */
const TENANTS: readonly (string | number)[] = ['acme', 'beta', 'gamma', 42, '42'];
const USERS = Array.from({ length: 20 }, (_, i) => `u${i}`);
const TYPES = ['x', 'y', 'z'];
const CHANNELS = ['n1', 'n2', 'n3'];
const PATTERNS = ['all', 'entity_type:*', 'entity_type:x', 'entity:x:*', 'entity:y:1', 'user:*', 'user:u1', 'notification_type:*', 'notification_type:n2'];
const FILTERS = [
  'all',
  ...TYPES.map((t) => `entity_type:${t}`),
  ...TYPES.flatMap((t) => [1, 2, 3].map((id) => `entity:${t}:${id}`)),
  ...USERS.slice(0, 8).map((u) => `user:${u}`),
  ...CHANNELS.map((c) => `notification_type:${c}`),
];

interface Plan {
  sub: string;
  filters: string[];
  roles: string[];
  scope: string | number | undefined;
  carrier: 'query' | 'authorization' | 'protocol';
  subscribes: string[];
}

function allows(p: Plan, filter: string): boolean {
  const grants = [...p.filters, ...p.roles.flatMap((r) => ROLES[r] ?? [])];
  return filter === `user:${p.sub}` || grants.some((g) => g === 'all' || g === filter || (g.endsWith(':*') && filter.startsWith(g.slice(0, -1))));
}
const unscopedAllowed = (p: Plan) => p.filters.includes('unscoped') || p.roles.some((r) => ROLES[r]?.includes('unscoped'));

function plan(): Plan {
  const sub = pick(USERS);
  const scoped = random() < 0.8;
  const p: Plan = {
    sub,
    filters: some(PATTERNS, 2),
    roles: some(Object.keys(ROLES), 1),
    scope: scoped ? pick(TENANTS) : undefined,
    carrier: pick(['query', 'authorization', 'protocol'] as const),
    // Its own user filter often, then anything (forbidden ones included).
    subscribes: [...(random() < 0.5 ? [`user:${sub}`] : []), ...some(FILTERS, 6)],
  };
  if (!scoped && random() < 0.7) p.filters.push('unscoped');
  // And a few it may have, so that most clients hold something.
  const mine = FILTERS.filter((f) => allows(p, f));
  if (mine.length > 0) p.subscribes.push(...some(mine, 3));
  return p;
}

interface Sent {
  seq: number;
  keys: readonly string[];
  tenant: string | undefined;
}

function notification(seq: number): { item: PublishItem; sent: Sent } {
  const payload: Record<string, unknown> = { seq };
  if (random() < 0.9) payload['entity_type'] = pick(TYPES);
  if (random() < 0.8) payload['entity_id'] = 1 + Math.floor(random() * 3);
  if (random() < 0.6) payload['user_id'] = pick(USERS.slice(0, 10));
  const where = random();
  if (where < 0.85) payload['tenant_id'] = pick(TENANTS);
  else if (where < 0.9) payload['tenant_id'] = pick([null, '', true, { id: 'acme' }]); // no scope value
  const type = pick(CHANNELS);
  const { envelope, keys } = envelopeFromValue(type, payload, new Date());
  const tenant = typeof payload['tenant_id'] === 'number' || (typeof payload['tenant_id'] === 'string' && payload['tenant_id'] !== '') ? String(payload['tenant_id']) : undefined;
  return { item: { id: `n-${seq}`, head: frameHead(envelope), keys, notificationType: type, sourceTime: Date.now() }, sent: { seq, keys, tenant } };
}

async function token(p: Plan): Promise<string> {
  return mintToken({ sub: p.sub, claim: { filters: p.filters, roles: p.roles, ...(p.scope !== undefined ? { scope: { tenant_id: p.scope } } : {}) } });
}

async function connect(url: string, p: Plan, jwt: string): Promise<TestClient> {
  if (p.carrier === 'query') return TestClient.connect(`${url}?token=${jwt}`);
  if (p.carrier === 'authorization') return TestClient.connect(url, { headers: { authorization: `Bearer ${jwt}` } });
  return TestClient.connect(url, { protocols: ['notifier.v1', `bearer.${jwt}`] });
}

/** An upgrade's answer when it is refused: status and body. */
function refusedUpgrade(port: number, jwt: string): Promise<{ status: number; body: string }> {
  return upgradeAnswer(`ws://127.0.0.1:${port}/ws?token=${jwt}`).then(({ status, body, upgraded }) => {
    if (upgraded) throw new Error('the upgrade succeeded');
    return { status, body };
  });
}

let edge: Edge;
let bus: MemoryBus;
let url: string;
const clients: TestClient[] = [];

beforeAll(async () => {
  bus = new MemoryBus();
  const config = loadConfig({
    env: {
      PORT: '0',
      HOST: '127.0.0.1',
      NOTIFIER_DRAIN_SECONDS: '0',
      ...JWT_ENV,
      NOTIFIER_SCOPE_FIELDS: 'tenant_id',
      NOTIFIER_AUTH_ROLES: JSON.stringify(ROLES),
      // 200 clients and the edge share one process here: room for a burst the clients read late.
      NOTIFIER_MAX_BACKPRESSURE_BYTES: String(16 * 1024 * 1024),
    },
  });
  const logger = pino({ level: 'silent' });
  edge = new Edge({ config, bus, logger, metrics: createMetrics(), authenticator: await createEdgeAuthenticator(config, logger) });
  await edge.start();
  url = `ws://127.0.0.1:${edge.port}/ws`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await edge?.stop();
});

describe('routing under tokens and tenant scopes on a live edge', () => {
  it(`200 random clients get exactly what their filters, permissions and scope allow, of 2,000 notifications, in order, once (seed ${SEED})`, async () => {
    // Tokens without a scope and without `unscoped`: refused before a socket opens.
    const refused: Plan[] = [];
    const plans: Plan[] = [];
    while (plans.length < CLIENTS || refused.length < REFUSED) {
      const p = plan();
      if (p.scope === undefined && !unscopedAllowed(p)) {
        if (refused.length < REFUSED) refused.push(p);
      } else if (plans.length < CLIENTS) plans.push(p);
    }
    for (const p of refused) {
      expect(await refusedUpgrade(edge.port, await token(p))).toEqual({ status: 401, body: '{"error":"unauthorized","reason":"invalid"}' });
    }

    // Connect, in groups, and subscribe: every request is answered, `subscribed` or `forbidden`.
    const accepted: Set<string>[] = [];
    let forbidden = 0;
    for (let i = 0; i < plans.length; i += 25) {
      const group = plans.slice(i, i + 25);
      const opened = await Promise.all(group.map(async (p) => connect(url, p, await token(p))));
      clients.push(...opened);
      await Promise.all(
        opened.map(async (c, j) => {
          const p = group[j] as Plan;
          expect(c.welcome).toMatchObject({ type: 'welcome', user_id: p.sub });
          const held = new Set<string>();
          for (const f of p.subscribes) {
            c.send({ type: 'subscribe', filter: f });
            const reply = await c.next((m) => m['type'] === 'subscribed' || m['type'] === 'error');
            if (allows(p, f)) {
              expect(reply).toEqual({ type: 'subscribed', filter: f });
              held.add(f);
            } else {
              expect(reply).toMatchObject({ type: 'error', code: 'forbidden', filter: f });
              forbidden++;
            }
          }
          accepted[i + j] = held;
        }),
      );
    }
    expect(forbidden).toBeGreaterThan(100);

    // 2,000 notifications through the bus, in batches (the MemoryBus hands each to the edge at once).
    const sent: Sent[] = [];
    for (let b = 0; b < NOTIFICATIONS; b += 100) {
      const batch = Array.from({ length: 100 }, (_, k) => notification(b + k));
      sent.push(...batch.map((x) => x.sent));
      await bus.publish(batch.map((x) => x.item));
      await new Promise((r) => setImmediate(r));
    }

    // Expected per client, from the plan alone.
    const expected = plans.map((p, i) => {
      const held = accepted[i] as Set<string>;
      const scope = p.scope === undefined ? undefined : String(p.scope);
      return sent.filter((n) => (held.has('all') || n.keys.some((k) => held.has(k))) && (scope === undefined || n.tenant === scope)).map((n) => n.seq);
    });
    // A ping after the last publish: its pong follows every notification on the same socket.
    await Promise.all(
      clients.map(async (c, i) => {
        c.send({ type: 'ping' });
        await c.next((m) => m['type'] === 'pong', 30_000);
        const got = c.notifications.map((m: Message) => (m['payload'] as { seq: number }).seq);
        expect(got, `client ${i} (${JSON.stringify(plans[i])})`).toEqual(expected[i]);
      }),
    );
    // With this seed: about 36,000 deliveries, 171 scoped clients, 362 forbidden subscribes, 33 clients matching nothing.
    const total = expected.reduce((n, e) => n + e.length, 0);
    const scopedClients = plans.filter((p) => p.scope !== undefined).length;
    expect(total).toBeGreaterThan(25_000);
    expect(scopedClients).toBeGreaterThan(120);
    expect(expected.filter((e) => e.length === 0).length).toBeLessThan(CLIENTS / 4);
  });
});

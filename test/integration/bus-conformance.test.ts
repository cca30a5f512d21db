/**
 * One suite, every Bus implementation: the contract in src/bus/bus.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Bus, BusHeartbeat, BusNotification, PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { RedisBus } from '../../src/bus/redis-bus.js';
import { redisKeys } from '../../src/bus/redis-keys.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { serviceUrls, uniqueName } from '../helpers/services.js';

const logger = pino({ level: 'silent' });

interface Impl {
  name: string;
  create(opts?: { retention?: number }): { bus: Bus; prefix?: string };
}

const impls: Impl[] = [
  { name: 'memory', create: (opts) => ({ bus: new MemoryBus({ retention: opts?.retention }) }) },
  {
    name: 'redis',
    create: (opts) => {
      const prefix = uniqueName('bus');
      const bus = new RedisBus({
        url: serviceUrls().redisUrl,
        prefix,
        streamRetention: opts?.retention ?? 10_000,
        dedupeTtlSeconds: 600,
        commandTimeoutMs: 2000,
        logger,
        metrics: createMetrics(),
      });
      return { bus, prefix };
    },
  },
];

let open: Bus[] = [];
afterEach(async () => {
  await Promise.all(open.map((b) => b.close()));
  open = [];
});

function item(id: string, value: unknown, channel = 'thing_changed'): PublishItem {
  const { envelope, keys } = envelopeFromValue(channel, value, new Date());
  return { id, head: frameHead(envelope), keys, notificationType: channel, sourceTime: Date.now() };
}

/** Collects deliveries; resolves `until(n)` once n notifications have arrived. */
function collector() {
  const got: BusNotification[] = [];
  const beats: BusHeartbeat[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  return {
    got,
    beats,
    handler: {
      onNotification: (n: BusNotification) => {
        got.push(n);
        if (waiter && got.length >= waiter.n) waiter.resolve();
      },
      onHeartbeat: (h: BusHeartbeat) => beats.push(h),
    },
    until: (n: number) =>
      got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { n, resolve })),
  };
}

describe.each(impls)('Bus contract: $name', (impl) => {
  function make(opts?: { retention?: number }) {
    const made = impl.create(opts);
    open.push(made.bus);
    return made;
  }

  it('delivers in offset order with prev chaining and one offset per item', async () => {
    const { bus } = make();
    const c = collector();
    await bus.subscribe(c.handler);
    const offsets = await bus.publish([item('a', { n: 1 }), item('b', { n: 2 }), item('c', { n: 3 })]);
    expect(offsets).toHaveLength(3);
    expect(new Set(offsets).size).toBe(3);
    await c.until(3);
    expect(c.got.map((n) => n.offset)).toEqual(offsets);
    expect(c.got[1]?.prev).toBe(offsets[0]);
    expect(c.got[2]?.prev).toBe(offsets[1]);
    const more = await bus.publish([item('d', { n: 4 })]);
    await c.until(4);
    expect(c.got[3]?.prev).toBe(offsets[2]);
    expect(more[0]).not.toBe(offsets[2]);
  });

  it('ships the frame with its offset, byte for byte valid JSON, whatever the payload holds', async () => {
    const { bus } = make();
    const c = collector();
    await bus.subscribe(c.handler);
    const payload = { entity_type: 'we"ird\n', entity_id: 'ü-1', user_id: 7, text: 'line1\nline2 "quoted" \\ \u2028 😀' };
    const [offset] = await bus.publish([item('x', payload, 'chan"nel')]);
    await c.until(1);
    const n = c.got[0]!;
    const frame = JSON.parse(n.frame.toString());
    expect(frame).toMatchObject({ notification_type: 'chan"nel', entity_type: 'we"ird\n', entity_id: 'ü-1', user_id: 7, payload, offset });
    expect(n.keys).toEqual(['notification_type:chan"nel', 'entity_type:we"ird\n', 'entity:we"ird\n:ü-1', 'user:7']);
    expect(n.notificationType).toBe('chan"nel');
  });

  it('publishes an id once: a retried batch gets the first offsets back and delivers nothing new', async () => {
    const { bus } = make();
    const c = collector();
    await bus.subscribe(c.handler);
    const first = await bus.publish([item('dup-1', 1), item('dup-2', 2)]);
    const again = await bus.publish([item('dup-1', 1), item('dup-2', 2), item('new-3', 3)]);
    expect(again.slice(0, 2)).toEqual(first);
    await c.until(3);
    await bus.publish([item('sentinel', 4)]);
    await c.until(4);
    expect(c.got.map((n) => JSON.parse(n.frame.toString()).payload)).toEqual([1, 2, 3, 4]);
  });

  it('publishes a batch id once; items without id are never skipped on their own', async () => {
    const { bus } = make();
    const c = collector();
    await bus.subscribe(c.handler);
    const first = await bus.publish([item('', 1), item('', 2)], 'batch-a');
    // A retry of the same batch (its reply was lost, say): nothing new, the first offsets back.
    expect(await bus.publish([item('', 1), item('', 2)], 'batch-a')).toEqual(first);
    // The same content under another batch id, or none, is new.
    await bus.publish([item('', 3)], 'batch-b');
    await bus.publish([item('', 4)]);
    await bus.publish([item('', 4)]);
    await c.until(5);
    await bus.publish([item('sentinel', 5)]);
    await c.until(6);
    expect(c.got.map((n) => JSON.parse(n.frame.toString()).payload)).toEqual([1, 2, 3, 4, 4, 5]);
  });

  it('reads the history after an offset, in pages, with the frames live subscribers got', async () => {
    const { bus } = make();
    const c = collector();
    await bus.subscribe(c.handler);
    const offsets = await bus.publish(Array.from({ length: 7 }, (_, i) => item(`r${i}`, { entity_type: 'thing', entity_id: i })));
    await c.until(7);
    const all = await bus.readAfter('0-0', 100);
    expect(all.complete).toBe(true);
    expect(all.items.map((n) => n.offset)).toEqual(offsets);
    expect(all.items.map((n) => n.frame.toString())).toEqual(c.got.map((n) => n.frame.toString()));
    expect(all.items.map((n) => n.keys)).toEqual(c.got.map((n) => n.keys));
    expect(all.items.map((n) => n.prev)).toEqual(c.got.map((n) => n.prev));
    const page = await bus.readAfter(offsets[2]!, 3);
    expect(page).toMatchObject({ complete: true });
    expect(page.items.map((n) => n.offset)).toEqual(offsets.slice(3, 6));
    expect(await bus.readAfter(offsets[6]!, 10)).toEqual({ items: [], complete: true });
  });

  it('says the history is incomplete once trimmed past the offset, or for an offset it never had', async () => {
    const { bus } = make({ retention: 10 });
    const offsets: string[] = [];
    for (let i = 0; i < 30; i++) offsets.push(...(await bus.publish(Array.from({ length: 10 }, (_, j) => item(`t${i}-${j}`, j)))));
    const fromStart = await bus.readAfter('0-0', 10);
    expect(fromStart.complete).toBe(false);
    const recent = await bus.readAfter(offsets[295]!, 10);
    expect(recent).toMatchObject({ complete: true });
    expect(recent.items).toHaveLength(4);
    // An offset that sorts inside the retained history but was never published.
    const [ms] = offsets[299]!.split('-');
    const never = `${Number(ms) - 1}-999999`;
    expect(offsets).not.toContain(never);
    expect((await bus.readAfter(never, 10)).complete).toBe(false);
  });

  it('heartbeats carry the epoch and the newest offset; position() agrees', async () => {
    const { bus } = make();
    const c = collector();
    await bus.subscribe(c.handler);
    const [offset] = await bus.publish([item('h1', 1)]);
    await bus.heartbeat('leader-1');
    await c.until(1);
    await expect.poll(() => c.beats.length).toBeGreaterThan(0);
    expect(c.beats[0]).toMatchObject({ last: offset, leader: 'leader-1' });
    const pos = await bus.position();
    expect(pos).toEqual({ epoch: c.beats[0]?.epoch, last: offset });
  });
});

describe('Redis bus specifics', () => {
  it('keeps one dedupe key per batch for items without id, and one per item with an id', async () => {
    const { bus, prefix } = impls[1]!.create();
    open.push(bus);
    await bus.publish([item('', 1), item('', 2), item('', 3)], 'plain-batch');
    await bus.publish([item('row-uid-1', 4), item('row-uid-2', 5)]);
    const admin = new Redis(serviceUrls().redisUrl);
    const seen = redisKeys(prefix ?? '').seenPrefix;
    const keys = (await admin.keys(`${seen}*`)).map((k) => k.slice(seen.length)).sort();
    await admin.quit();
    expect(keys).toEqual(['batch:plain-batch', 'row-uid-1', 'row-uid-2']);
  });

  it('survives an empty script cache (a restarted Redis): NOSCRIPT is handled', async () => {
    const { bus } = impls[1]!.create();
    open.push(bus);
    await bus.publish([item('s1', 1)]);
    const admin = new Redis(serviceUrls().redisUrl);
    await admin.script('FLUSH');
    await admin.quit();
    await expect(bus.publish([item('s2', 2)])).resolves.toHaveLength(1);
  });

  it('starts a new epoch when the history is lost', async () => {
    const made = impls[1]!.create();
    open.push(made.bus);
    await made.bus.publish([item('e1', 1)]);
    const before = await made.bus.position();
    const admin = new Redis(serviceUrls().redisUrl);
    const keys = redisKeys(made.prefix!);
    await admin.del(keys.stream, keys.epoch);
    await admin.quit();
    await made.bus.publish([item('e2', 2)]);
    const after = await made.bus.position();
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.epoch).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps clusters with different prefixes apart', async () => {
    const a = impls[1]!.create().bus;
    const b = impls[1]!.create().bus;
    open.push(a, b);
    const ca = collector();
    const cb = collector();
    await a.subscribe(ca.handler);
    await b.subscribe(cb.handler);
    await a.publish([item('only-a', 'a')]);
    await b.publish([item('only-b', 'b')]);
    await ca.until(1);
    await cb.until(1);
    expect(JSON.parse(ca.got[0]!.frame.toString()).payload).toBe('a');
    expect(JSON.parse(cb.got[0]!.frame.toString()).payload).toBe('b');
    expect(ca.got).toHaveLength(1);
  });
});

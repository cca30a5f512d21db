import { afterEach, describe, expect, it, vi } from 'vitest';
import { type BusHandler, type BusHeartbeat, type BusNotification, type PublishItem } from '../../src/bus/bus.js';
import { ZERO_OFFSET } from '../../src/protocol/offsets.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';

afterEach(() => {
  vi.restoreAllMocks();
});

let counter = 0;
function item(payload: unknown, id = `id-${++counter}`): PublishItem {
  const { envelope, keys } = envelopeFromValue('execution_status_changed', payload, new Date('2024-01-15T10:30:00Z'));
  return { id, head: frameHead(envelope), keys, notificationType: envelope.notification_type, sourceTime: 1_700_000_000_000 };
}

interface Recorder extends BusHandler {
  notifications: BusNotification[];
  heartbeats: BusHeartbeat[];
  subscribed: number;
}

function recorder(): Recorder {
  const r: Recorder = {
    notifications: [],
    heartbeats: [],
    subscribed: 0,
    onNotification: (n) => r.notifications.push(n),
    onHeartbeat: (h) => r.heartbeats.push(h),
    onSubscribed: () => {
      r.subscribed += 1;
    },
  };
  return r;
}

/** Stream-id order: `<ms>-<seq>` compared numerically, part by part. */
function compareOffsets(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

describe('MemoryBus', () => {
  it('starts empty: position has its epoch and the empty offset', async () => {
    const bus = new MemoryBus();
    expect(await bus.position()).toEqual({ epoch: bus.epoch, last: ZERO_OFFSET });
    expect(ZERO_OFFSET).toBe('0-0');
    expect(bus.epoch).toMatch(/^[0-9a-f-]{36}$/);
    expect(new MemoryBus().epoch).not.toBe(bus.epoch);
  });

  it('publish returns one strictly increasing stream-id offset per item, in order', async () => {
    const bus = new MemoryBus();
    const offsets = await bus.publish([item(1), item(2), item(3)]);
    const more = await bus.publish([item(4), item(5)]);
    const all = [...offsets, ...more];
    expect(all).toHaveLength(5);
    for (const o of all) expect(o).toMatch(/^\d+-\d+$/);
    for (let i = 1; i < all.length; i++) expect(compareOffsets(all[i - 1] as string, all[i] as string)).toBeLessThan(0);
    expect((await bus.position()).last).toBe(more[1]);
  });

  it('numbers offsets within one millisecond and never goes back when the clock does', async () => {
    const now = vi.spyOn(Date, 'now');
    const bus = new MemoryBus();
    now.mockReturnValue(1000);
    expect(await bus.publish([item('a'), item('b'), item('c')])).toEqual(['1000-0', '1000-1', '1000-2']);
    now.mockReturnValue(1001);
    expect(await bus.publish([item('d')])).toEqual(['1001-0']);
    now.mockReturnValue(900); // clock stepped back
    expect(await bus.publish([item('e'), item('f')])).toEqual(['1001-1', '1001-2']);
    now.mockReturnValue(1002);
    expect(await bus.publish([item('g')])).toEqual(['1002-0']);
  });

  it('delivers notifications to every subscriber in order, each carrying the previous offset', async () => {
    const bus = new MemoryBus();
    const a = recorder();
    const b = recorder();
    await bus.subscribe(a);
    await bus.subscribe(b);
    expect(a.subscribed).toBe(1);
    expect(b.subscribed).toBe(1);

    const first = await bus.publish([item({ n: 1 }), item({ n: 2 })]);
    const second = await bus.publish([item({ n: 3 })]);
    const offsets = [...first, ...second];

    for (const r of [a, b]) {
      expect(r.notifications.map((n) => n.offset)).toEqual(offsets);
      expect(r.notifications.map((n) => n.prev)).toEqual([ZERO_OFFSET, offsets[0], offsets[1]]);
      expect(r.notifications.map((n) => (JSON.parse(String(n.frame)) as { payload: { n: number } }).payload.n)).toEqual([1, 2, 3]);
    }
  });

  it('carries keys, type and source time through, and a frame that is valid JSON with its offset', async () => {
    const bus = new MemoryBus();
    const r = recorder();
    await bus.subscribe(r);
    const it1 = item({ entity_type: 'execution', entity_id: 123, user_id: 456, text: 'a "quoted"\nline' });
    const [offset] = await bus.publish([it1]);
    const n = r.notifications[0] as BusNotification;
    expect(n.keys).toEqual(['notification_type:execution_status_changed', 'entity_type:execution', 'entity:execution:123', 'user:456']);
    expect(n.notificationType).toBe('execution_status_changed');
    expect(n.sourceTime).toBe(1_700_000_000_000);
    expect(JSON.parse(String(n.frame))).toEqual({
      notification_type: 'execution_status_changed',
      entity_type: 'execution',
      entity_id: 123,
      user_id: 456,
      payload: { entity_type: 'execution', entity_id: 123, user_id: 456, text: 'a "quoted"\nline' },
      timestamp: '2024-01-15T10:30:00.000Z',
      offset,
    });
  });

  it('skips a duplicate id and returns its first offset, without a second delivery', async () => {
    const bus = new MemoryBus();
    const r = recorder();
    await bus.subscribe(r);
    const [o1, o2] = await bus.publish([item('x', 'dup-1'), item('y', 'dup-2')]);
    // A retried batch (e.g. a reply lost in transit) plus one new item; also a repeat within the batch.
    const again = await bus.publish([item('x', 'dup-1'), item('z', 'new-1'), item('y', 'dup-2'), item('z', 'new-1')]);
    expect(again[0]).toBe(o1);
    expect(again[2]).toBe(o2);
    expect(again[3]).toBe(again[1]);
    expect(compareOffsets(o2 as string, again[1] as string)).toBeLessThan(0);
    expect(r.notifications.map((n) => n.offset)).toEqual([o1, o2, again[1]]);
    // The chain stays gap-free: the new item's prev is the last delivered offset.
    expect(r.notifications[2]?.prev).toBe(o2);
    expect((await bus.position()).last).toBe(again[1]);
  });

  it('forgets ids beyond its retention window', async () => {
    const bus = new MemoryBus({ retention: 2 });
    const r = recorder();
    await bus.subscribe(r);
    const [first] = await bus.publish([item(1, 'a'), item(2, 'b'), item(3, 'c')]);
    // 'a' fell out of the window: it is published again under a new offset.
    const [republished] = await bus.publish([item(1, 'a')]);
    expect(republished).not.toBe(first);
    expect(r.notifications).toHaveLength(4);
    // 'c' is still inside the window.
    const [c] = await bus.publish([item(3, 'c')]);
    expect(c).toBe(r.notifications[2]?.offset);
    expect(r.notifications).toHaveLength(4);
  });

  it('sends heartbeats with epoch, newest offset, leader and time to every subscriber', async () => {
    const bus = new MemoryBus();
    const a = recorder();
    const b = recorder();
    await bus.subscribe(a);
    await bus.subscribe(b);
    vi.spyOn(Date, 'now').mockReturnValue(5000);
    await bus.heartbeat('leader-1');
    expect(a.heartbeats).toEqual([{ epoch: bus.epoch, last: ZERO_OFFSET, leader: 'leader-1', at: 5000 }]);
    const [o] = await bus.publish([item('p')]);
    await bus.heartbeat('leader-2');
    expect(a.heartbeats[1]).toEqual({ epoch: bus.epoch, last: o, leader: 'leader-2', at: 5000 });
    expect(b.heartbeats).toEqual(a.heartbeats);
  });

  it('a subscriber joining late gets only what is published afterwards', async () => {
    const bus = new MemoryBus();
    await bus.publish([item('before')]);
    const r = recorder();
    await bus.subscribe(r);
    const [o] = await bus.publish([item('after')]);
    expect(r.notifications.map((n) => n.offset)).toEqual([o]);
    expect(r.notifications[0]?.prev).not.toBe(ZERO_OFFSET);
  });

  it('publishing an empty batch returns no offsets and changes nothing', async () => {
    const bus = new MemoryBus();
    expect(await bus.publish([])).toEqual([]);
    expect((await bus.position()).last).toBe(ZERO_OFFSET);
  });

  it('close stops delivery to subscribers', async () => {
    const bus = new MemoryBus();
    const r = recorder();
    await bus.subscribe(r);
    await bus.close();
    await bus.publish([item('x')]);
    await bus.heartbeat('l');
    expect(r.notifications).toEqual([]);
    expect(r.heartbeats).toEqual([]);
  });
});

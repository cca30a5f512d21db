import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Publisher } from '../../src/listener/publisher.js';
import { createMetrics } from '../../src/observability/metrics.js';

/**
 * A MemoryBus that fails while `down` is set (or publishes and then loses the reply while
 * `loseReply` is), and records every batch it was asked to publish.
 */
class FlakyBus extends MemoryBus {
  down = false;
  loseReply = false;
  readonly calls: { ids: string[]; batchId: string | undefined }[] = [];
  get batches(): string[][] {
    return this.calls.map((c) => c.ids);
  }
  override async publish(items: readonly PublishItem[], batchId?: string): Promise<string[]> {
    this.calls.push({ ids: items.map((i) => i.id), batchId });
    if (this.down) throw new Error('bus down');
    const offsets = await super.publish(items, batchId);
    if (this.loseReply) throw new Error('reply lost');
    return offsets;
  }
}

const item = (id: string): PublishItem => ({ id, head: '{"x":1', keys: [], notificationType: 't', sourceTime: 0 });

function setup(opts: { batchSize?: number; queueLimit?: number } = {}) {
  const bus = new FlakyBus();
  const delivered: string[] = [];
  void bus.subscribe({ onNotification: (n) => delivered.push(JSON.parse(String(n.frame)).offset), onHeartbeat: () => undefined });
  const metrics = createMetrics();
  const publisher = new Publisher({
    bus,
    batchSize: opts.batchSize ?? 100,
    queueLimit: opts.queueLimit ?? 1000,
    logger: pino({ level: 'silent' }),
    metrics,
    batchIdPrefix: 'test:',
  });
  return { bus, publisher, delivered, metrics };
}

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('Publisher', () => {
  it('batches what accumulates while a publish is in flight', async () => {
    const { bus, publisher, delivered } = setup({ batchSize: 50 });
    publisher.start();
    for (let i = 0; i < 120; i++) publisher.enqueue(item(`p${i}`));
    await until(() => delivered.length === 120);
    expect(bus.batches.length).toBeLessThan(10);
    expect(bus.batches.every((b) => b.length <= 50)).toBe(true);
    expect(bus.batches.flat()).toEqual(Array.from({ length: 120 }, (_, i) => `p${i}`));
  });

  it('takes the batch when the lane is free: what queued while another publish held it goes out together', async () => {
    const { bus, publisher, delivered } = setup();
    publisher.start();
    // An outbox batch holds the lane while plain notifications arrive one by one.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const original = bus.publish.bind(bus);
    bus.publish = async (items, batchId) => {
      if (items[0]?.id === 'outbox') await gate;
      return original(items, batchId);
    };
    const outbox = publisher.publishNow([item('outbox')]);
    publisher.enqueue(item('first'));
    for (let i = 0; i < 99; i++) publisher.enqueue(item(`more${i}`));
    release();
    await outbox;
    await until(() => delivered.length === 101);
    expect(bus.batches.map((b) => b.length)).toEqual([1, 100]);
  });

  it('retries a failed batch in full and in order', async () => {
    const { bus, publisher, delivered } = setup();
    publisher.start();
    bus.down = true;
    publisher.enqueue(item('a'));
    publisher.enqueue(item('b'));
    await until(() => bus.batches.length >= 1);
    bus.down = false;
    publisher.enqueue(item('c'));
    await until(() => delivered.length === 3, 10_000);
    const ok = bus.batches.filter((_, i) => i > 0).flat();
    expect(ok).toEqual(['a', 'b', 'c']);
  });

  it('resends exactly the failed batch under the same batch id, even when more queued meanwhile', async () => {
    const { bus, publisher, delivered } = setup();
    publisher.start();
    bus.down = true;
    publisher.enqueue(item('a'));
    publisher.enqueue(item('b'));
    await until(() => bus.calls.length >= 1);
    publisher.enqueue(item('c'));
    bus.down = false;
    await until(() => delivered.length === 3, 10_000);
    const [failed, ...rest] = bus.calls;
    expect(failed).toEqual({ ids: ['a', 'b'], batchId: 'test:1' });
    expect(rest.filter((c) => c.batchId === 'test:1').every((c) => c.ids.join() === 'a,b')).toBe(true);
    expect(rest.at(-1)).toEqual({ ids: ['c'], batchId: 'test:2' });
  });

  it('publishes a batch once when the bus took it but the reply was lost', async () => {
    const { bus, publisher, delivered } = setup();
    publisher.start();
    bus.loseReply = true;
    publisher.enqueue(item(''));
    publisher.enqueue(item(''));
    await until(() => bus.calls.length >= 1);
    bus.loseReply = false;
    publisher.enqueue(item(''));
    await until(() => bus.calls.length >= 3, 10_000);
    await until(() => publisher.queued === 0, 10_000);
    expect(delivered).toHaveLength(3);
    expect(new Set(delivered).size).toBe(3);
  });

  it('flushes again after stepping down and leading again while a retry was pending', async () => {
    const { bus, publisher, delivered } = setup();
    publisher.start();
    bus.down = true;
    publisher.enqueue(item('lost'));
    await until(() => bus.batches.length >= 1);
    expect(publisher.stop()).toBe(1);
    bus.down = false;
    publisher.start();
    publisher.enqueue(item('after'));
    await until(() => delivered.length === 1);
    expect(bus.batches.at(-1)).toEqual(['after']);
  });

  it('drops and counts plain notifications beyond the queue limit, and nothing when stopped', async () => {
    const { bus, publisher, metrics } = setup({ queueLimit: 100 });
    publisher.enqueue(item('inactive'));
    expect(publisher.queued).toBe(0);
    publisher.start();
    bus.down = true;
    for (let i = 0; i < 150; i++) publisher.enqueue(item(`q${i}`));
    expect(publisher.queued).toBe(100);
    expect((await metrics.plainDropped.get()).values[0]?.value).toBe(50);
    publisher.stop();
  });

  it('publishNow goes through the same serial lane and rejects when the bus does', async () => {
    const { bus, publisher } = setup();
    publisher.start();
    await expect(publisher.publishNow([item('x')])).resolves.toHaveLength(1);
    bus.down = true;
    await expect(publisher.publishNow([item('y')])).rejects.toThrow('bus down');
    publisher.stop();
    await expect(publisher.publishNow([item('z')])).rejects.toThrow(/not the leader/);
  });
});

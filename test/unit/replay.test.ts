import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import type { BusNotification, PublishItem } from '../../src/bus/bus.js';
import { replay, type ReplayTarget } from '../../src/edge/replay.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { matches } from '../../src/protocol/filters.js';

function item(i: number, entityType: string): PublishItem {
  const { envelope, keys } = envelopeFromValue('changed', { entity_type: entityType, entity_id: i }, new Date());
  return { id: `id-${i}`, head: frameHead(envelope), keys, notificationType: 'changed', sourceTime: 0 };
}

/** An edge in miniature: routes live notifications to a connection once it is live. */
function harness(filters: string[]) {
  const bus = new MemoryBus({ retention: 10_000 });
  let live = '';
  const received: number[] = [];
  let isLive = false;
  const f = filters;
  const ofFrame = (frame: BusNotification['frame']) => JSON.parse(String(frame)).entity_id as number;
  void bus.subscribe({
    onNotification: (n) => {
      live = n.offset;
      if (isLive && matches(f, n.keys)) received.push(ofFrame(n.frame));
    },
    onHeartbeat: () => undefined,
  });
  let buffered = 0;
  const target: ReplayTarget & { liveAt?: string } = {
    isOpen: () => true,
    wants: (n) => matches(f, n.keys),
    deliver: (n) => {
      received.push(ofFrame(n.frame));
      buffered += 1;
    },
    bufferedAmount: () => buffered,
    drained: async () => {
      await new Promise((r) => setImmediate(r));
      buffered = 0;
    },
    goLive: (offset) => {
      isLive = true;
      target.liveAt = offset;
    },
  };
  return { bus, target, received, source: { readAfter: bus.readAfter.bind(bus), liveOffset: () => live } };
}

describe('replay', () => {
  it('replays matching notifications after the offset, then goes live at the newest routed offset', async () => {
    const h = harness(['entity_type:a']);
    const offsets = await h.bus.publish([item(0, 'a'), item(1, 'b'), item(2, 'a'), item(3, 'a')]);
    const result = await replay(h.source, h.target, offsets[0]!, { chunk: 2, maxBuffered: 1 });
    expect(result).toEqual({ status: 'live', offset: offsets[3], replayed: 2 });
    expect(h.received).toEqual([2, 3]);
    await h.bus.publish([item(4, 'a'), item(5, 'b')]);
    expect(h.received).toEqual([2, 3, 4]);
  });

  it('never loses or duplicates notifications published while it runs (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 7 }), async (before, during, chunk) => {
        const h = harness(['all']);
        const start = await h.bus.publish([item(-1, 'x')]);
        for (let i = 0; i < before; i++) await h.bus.publish([item(i, 'x')]);
        let next = before;
        // Live publishes interleave with the replay's reads.
        const source = {
          readAfter: async (after: string, count: number) => {
            if (next < before + during) await h.bus.publish([item(next++, 'x')]);
            return h.bus.readAfter(after, count);
          },
          liveOffset: h.source.liveOffset,
        };
        await replay(source, h.target, start[0]!, { chunk, maxBuffered: 3 });
        while (next < before + during) await h.bus.publish([item(next++, 'x')]);
        expect(h.received).toEqual([...Array(before + during).keys()]);
      }),
      { numRuns: 60 },
    );
  });

  it('reports expired history instead of replaying with a hole', async () => {
    const h = harness(['all']);
    const small = new MemoryBus({ retention: 3 });
    const offsets = await small.publish([0, 1, 2, 3, 4, 5].map((i) => item(i, 'x')));
    const source = { readAfter: small.readAfter.bind(small), liveOffset: () => offsets[5]! };
    expect(await replay(source, h.target, offsets[0]!, { chunk: 10, maxBuffered: 100 })).toEqual({ status: 'expired' });
    expect(h.received).toEqual([]);
  });

  it('goes live at once when nothing was missed, and stops if the connection closes', async () => {
    const h = harness(['all']);
    const [o] = await h.bus.publish([item(0, 'x')]);
    expect(await replay(h.source, h.target, o!, { chunk: 10, maxBuffered: 10 })).toEqual({ status: 'live', offset: o, replayed: 0 });
    const closed = { ...h.target, isOpen: () => false };
    expect(await replay(h.source, closed, '0-0', { chunk: 10, maxBuffered: 10 })).toEqual({ status: 'closed' });
  });
});

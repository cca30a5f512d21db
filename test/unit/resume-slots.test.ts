/**
 * Resumes under NOTIFIER_MAX_CONCURRENT_REPLAYS: at most that many replays read history at once,
 * the rest wait first come first served and then get everything they missed; a connection that
 * closes while waiting leaves the line without holding anyone up.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { HistoryPage, PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { HistoryReads } from '../../src/edge/history-reads.js';
import { ANONYMOUS } from '../../src/edge/peer.js';
import { Resumes } from '../../src/edge/resume.js';
import { ScopedIndexes } from '../../src/edge/scoped-indexes.js';
import { NotificationScopes } from '../../src/edge/notification-scopes.js';
import { Subscriptions } from '../../src/edge/subscriptions.js';
import { Phase, type Frame, type SessionState, type Transport } from '../../src/edge/transport.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';

function item(i: number): PublishItem {
  const { envelope, keys } = envelopeFromValue('changed', { entity_type: 'thing', entity_id: i }, new Date());
  return { id: `id-${i}`, head: frameHead(envelope), keys, notificationType: 'changed', sourceTime: 0 };
}

/** A bus whose history reads wait until the test lets them through, counting those in flight. */
class GatedBus extends MemoryBus {
  inFlight = 0;
  maxInFlight = 0;
  private gates: (() => void)[] = [];
  override async readAfter(after: string, count: number): Promise<HistoryPage> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    this.inFlight -= 1;
    return super.readAfter(after, count);
  }
  openGates(): number {
    const n = this.gates.length;
    this.gates.splice(0).forEach((g) => g());
    return n;
  }
}

interface Conn {
  state: SessionState;
  open: boolean;
  frames: string[];
}

const transport: Transport<Conn> = {
  state: (c) => c.state,
  isOpen: (c) => c.open,
  send: (c, frame: Frame) => void c.frames.push(String(frame)),
  deliver: (c, n) => void c.frames.push(String(n.frame)),
  join: () => undefined,
  leave: () => undefined,
  close: (c) => void (c.open = false),
  bufferedAmount: () => 0,
};

async function setup(maxConcurrent: number, published: number) {
  const bus = new GatedBus({ retention: 10_000 });
  const offsets = await bus.publish([item(-1), ...Array.from({ length: published }, (_, i) => item(i))]);
  const metrics = createMetrics();
  const subscriptions = new Subscriptions(new ScopedIndexes(), metrics, 100);
  const resumes = new Resumes({
    feed: { epoch: bus.epoch, lastOffset: offsets.at(-1)! },
    scopes: new NotificationScopes([]),
    history: new HistoryReads(bus, metrics, 0),
    subscriptions,
    metrics,
    logger: pino({ level: 'silent' }),
    maxBuffered: 1 << 20,
    maxConcurrent,
  });
  // Each from its own offset: HistoryReads shares one read among resumes from the same position.
  let resumed = 0;
  const connect = (): Conn => {
    const c: Conn = { state: { seq: 0, filters: [], windowSecond: 0, windowCount: 0, phase: Phase.New, peer: ANONYMOUS }, open: true, frames: [] };
    subscriptions.replace(c.state, [{ filter: 'all', where: undefined, id: 'all' }]);
    c.state.phase = Phase.Replaying;
    resumes.start(transport, c, bus.epoch, offsets[resumed++]!);
    return c;
  };
  return { bus, resumes, connect };
}

const entityIds = (c: Conn) => c.frames.filter((f) => f.includes('"notification"') || f.includes('entity_id')).map((f) => (JSON.parse(f) as { entity_id?: number }).entity_id).filter((x) => x !== undefined);
const tick = () => new Promise((r) => setImmediate(r));

describe('concurrent resume replays, capped per edge', () => {
  it('runs at most the cap at once; the others wait in order and then get everything, nothing lost', async () => {
    const { bus, resumes, connect } = await setup(2, 450);
    const conns = Array.from({ length: 7 }, connect);
    expect(resumes.replays).toEqual({ running: 2, waiting: 5 });
    while (conns.some((c) => c.state.phase === Phase.Replaying)) {
      bus.openGates();
      await tick();
      expect(resumes.replays.running).toBeLessThanOrEqual(2);
    }
    expect(bus.maxInFlight).toBe(2);
    expect(resumes.replays).toEqual({ running: 0, waiting: 0 });
    for (const [k, c] of conns.entries()) {
      expect(entityIds(c)).toEqual(Array.from({ length: 450 - k }, (_, i) => i + k));
      expect(c.frames.at(-1)).toContain('"resumed"');
    }
  });

  it('a connection that closes while waiting leaves the line; the next one takes the slot', async () => {
    const { bus, resumes, connect } = await setup(1, 10);
    const [first, quitter, last] = [connect(), connect(), connect()];
    expect(resumes.replays).toEqual({ running: 1, waiting: 2 });
    quitter!.open = false;
    resumes.closed(quitter!.state);
    expect(resumes.replays).toEqual({ running: 1, waiting: 1 });
    while (last!.state.phase === Phase.Replaying) {
      bus.openGates();
      await tick();
    }
    expect(entityIds(first!)).toHaveLength(10);
    expect(entityIds(last!)).toHaveLength(8);
    expect(quitter!.frames).toEqual([]);
    expect(resumes.replays).toEqual({ running: 0, waiting: 0 });
  });

  it('a running replay whose connection closes frees its slot', async () => {
    const { bus, resumes, connect } = await setup(1, 10);
    const [first, second] = [connect(), connect()];
    first!.open = false;
    resumes.closed(first!.state);
    expect(resumes.replays).toEqual({ running: 1, waiting: 1 });
    while (second!.state.phase === Phase.Replaying) {
      bus.openGates();
      await tick();
    }
    expect(entityIds(second!)).toHaveLength(9);
    expect(resumes.replays.running).toBe(0);
  });
});

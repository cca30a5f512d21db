import { describe, expect, it } from 'vitest';
import type { DatabaseConfig } from '../../src/config/schema.js';
import { reportPlainGap, PlainNotifications } from '../../src/listener/plain-notifications.js';
import { SessionWatch } from '../../src/listener/session-watch.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromText } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { pino } from 'pino';

const config = { channels: ['known'] } as unknown as DatabaseConfig;

describe('PlainNotifications.toItem', () => {
  it('serializes the frame head once, with the payload as it came, and counts by folded channel', async () => {
    const metrics = createMetrics();
    const plain = new PlainNotifications(config, metrics);
    const text = '{"entity_type":"execution","entity_id":12345678901234567890,"timestamp":"2024-01-15T10:30:00Z"}';
    const item = plain.toItem({ processId: 1, channel: 'known', payload: text });
    const built = envelopeFromText('known', text, new Date());
    expect(item).toEqual({
      id: '',
      head: frameHead(built.envelope, text),
      keys: built.keys,
      notificationType: 'known',
      sourceTime: Date.parse('2024-01-15T10:30:00Z'),
    });
    plain.toItem({ processId: 1, channel: 'stray', payload: 'not json' });
    const received = (await metrics.pgReceived.get()).values.map((v) => [v.labels['channel'], v.value]);
    expect(received).toEqual(expect.arrayContaining([['known', 1], ['other', 1]]));
    expect((await metrics.pgNonJson.get()).values[0]?.value).toBe(1);
  });

  it('stamps a payload without a valid timestamp with the receipt time', () => {
    const before = Date.now();
    const item = new PlainNotifications(config, createMetrics()).toItem({ processId: 1, channel: 'known', payload: '' });
    expect(item.sourceTime).toBeGreaterThanOrEqual(before);
    expect(item.sourceTime).toBeLessThanOrEqual(Date.now());
  });
});

describe('reportPlainGap', () => {
  it('counts the seconds since the previous leader last beat as unheard', async () => {
    const metrics = createMetrics();
    const bus = new MemoryBus();
    await reportPlainGap(bus, pino({ level: 'silent' }), metrics); // no previous heartbeat: nothing counted
    expect((await metrics.plainUnheard.get()).values[0]?.value ?? 0).toBe(0);
    await bus.heartbeat('previous');
    await reportPlainGap(bus, pino({ level: 'silent' }), metrics);
    expect((await metrics.plainUnheard.get()).values[0]?.value).toBeGreaterThanOrEqual(0);
    await bus.close();
  });
});

describe('SessionWatch', () => {
  it('keeps the first reason and resolves once', async () => {
    const w = new SessionWatch();
    expect(w.lost).toBe(false);
    w.fail('connection error: reset');
    w.fail('connection ended');
    await w.done;
    expect(w).toMatchObject({ lost: true, reason: 'connection error: reset' });
  });
});

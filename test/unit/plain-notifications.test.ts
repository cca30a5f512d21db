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
const silent = pino({ level: 'silent' });

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

describe('PlainNotifications.toItem', () => {
  it('serializes the frame head once, with the payload as it came, and counts by folded channel', async () => {
    const metrics = createMetrics();
    const plain = new PlainNotifications(config, metrics, silent);
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
    const item = new PlainNotifications(config, createMetrics(), silent).toItem({ processId: 1, channel: 'known', payload: '' });
    expect(item?.sourceTime).toBeGreaterThanOrEqual(before);
    expect(item?.sourceTime).toBeLessThanOrEqual(Date.now());
  });

  it('hostile payloads: each becomes a frame clients can parse, a non-JSON one is counted and logged trimmed', async () => {
    const metrics = createMetrics();
    const { logger, lines } = capture();
    const plain = new PlainNotifications(config, metrics, logger);
    const deep = `${'['.repeat(5000)}\n${'['.repeat(5000)}${']'.repeat(10_000)}`; // re-serializing it overflowed the stack
    const payloads = [
      deep,
      `{"a":${'{"a":'.repeat(9_999)}1${'}'.repeat(10_000)}`,
      JSON.stringify({ pad: 'x'.repeat(7_990) }),
      '{"entity_type":"\\ud800x","s":"\\udfff"}',
      '{"entity_type":"a\\u0000b"}',
      '{"entity_id": 123456789012345678901234567890, "user_id": 9007199254740993}',
      '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}}',
      `{"not json": ${'x'.repeat(500)}`,
    ];
    for (const payload of payloads) {
      const item = plain.toItem({ processId: 1, channel: 'known', payload });
      expect(item).toBeDefined();
      const frame = JSON.parse(`${item?.head ?? ''}}`) as { payload: unknown };
      expect(typeof frame.payload).toBe(payload.startsWith('{"not json"') ? 'string' : 'object');
      expect(item?.head.includes('\n')).toBe(false);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(JSON.parse(`${plain.toItem({ processId: 1, channel: 'known', payload: payloads[5] as string })?.head ?? ''}}`.replace(/123456789012345678901234567890/, '"big"'))).toMatchObject({ payload: { entity_id: 'big' } });
    expect((await metrics.pgNonJson.get()).values[0]?.value).toBe(1);
    const logged = lines.filter((l) => l['event'] === 'listener:payload:not-json');
    expect(logged).toHaveLength(1);
    expect(String(logged[0]?.['payload'])).toMatch(/^\{"not json": x{187}… \(513 characters\)$/);
  });

  it('a notification that cannot be made into a frame is dropped, counted and logged; the listener goes on', async () => {
    const metrics = createMetrics();
    const { logger, lines } = capture();
    const plain = new PlainNotifications(config, metrics, logger);
    const hostile = { processId: 1, channel: 'known', get payload(): string { throw new Error('unreadable'); } };
    expect(plain.toItem(hostile)).toBeUndefined();
    expect((await metrics.pgDropped.get()).values[0]?.value).toBe(1);
    expect(lines.find((l) => l['event'] === 'listener:payload:dropped')).toMatchObject({ channel: 'known', err: 'unreadable' });
    expect(plain.toItem({ processId: 1, channel: 'known', payload: '{}' })).toBeDefined();
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

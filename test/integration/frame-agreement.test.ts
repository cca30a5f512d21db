/**
 * The client frame has one owner, protocol/frame.ts; the Redis publish script closes frames with
 * the Lua expression frame.ts generates. This runs the real script on a real Redis (a unique key
 * prefix, never a flush) and checks that what it publishes is, byte for byte, what the TypeScript
 * function builds for the same head and offset — and what a history read (XRANGE) rebuilds.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishItem } from '../../src/bus/bus.js';
import { RedisBus } from '../../src/bus/redis-bus.js';
import { redisKeys } from '../../src/bus/redis-keys.js';
import { decodeWire } from '../../src/bus/wire.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromText, envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead, frameWithOffset } from '../../src/protocol/frame.js';
import { serviceUrls, uniqueName } from '../helpers/services.js';

const AT = new Date('2024-01-15T10:30:00.000Z');

let admin: Redis;
let sub: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  admin = new Redis(serviceUrls().redisUrl);
  sub = new Redis(serviceUrls().redisUrl);
});

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await admin.keys(`{${prefix}}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  sub.disconnect();
  await admin.quit();
});

/** Heads as the listener builds them: from a plain NOTIFY text (payload embedded as it came) or a jsonb value. */
function fromText(channel: string, text: string): PublishItem {
  const b = envelopeFromText(channel, text, AT);
  return { id: '', head: frameHead(b.envelope, b.payloadJson), keys: b.keys, notificationType: channel, sourceTime: AT.getTime() };
}

function fromValue(channel: string, value: unknown): PublishItem {
  const b = envelopeFromValue(channel, value, AT);
  return { id: '', head: frameHead(b.envelope), keys: b.keys, notificationType: channel, sourceTime: AT.getTime() };
}

/**
 * Publishes `items` through RedisBus (the real Lua script) on a fresh prefix whose stream was
 * seeded with `seedId` (so the script's offsets have that length), and returns, per item, the frame
 * bytes the script published, its offset, and the stream's raw head field.
 */
async function publishThroughLua(items: PublishItem[], seedId?: string): Promise<{ frame: Buffer; offset: string; storedHead: string }[]> {
  const prefix = uniqueName('frame');
  prefixes.push(prefix);
  const keys = redisKeys(prefix);
  if (seedId !== undefined) await admin.xadd(keys.stream, seedId, 'seed', '1');
  const bus = new RedisBus({
    url: serviceUrls().redisUrl,
    prefix,
    streamRetention: 100_000,
    dedupeTtlSeconds: 60,
    commandTimeoutMs: 5000,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
  });
  const messages: Buffer[] = [];
  const onMessage = (channel: Buffer, message: Buffer) => {
    if (channel.toString() === keys.channel) messages.push(message);
  };
  sub.on('messageBuffer', onMessage);
  try {
    await sub.subscribe(keys.channel);
    const offsets = await bus.publish(items, uniqueName('batch'));
    await waitFor(() => messages.length > 0);
    expect(messages).toHaveLength(1);
    const decoded = decodeWire(messages[0]!);
    if (decoded?.kind !== 'notifications') throw new Error('the script published no notification batch');
    expect(decoded.items.map((n) => n.offset)).toEqual(offsets);
    const stored = new Map((await admin.xrange(keys.stream, '-', '+')).map(([id, fields]) => [id, fields[fields.indexOf('f') + 1]!]));
    return decoded.items.map((n, i) => ({ frame: Buffer.from(n.frame), offset: offsets[i]!, storedHead: stored.get(offsets[i]!)! }));
  } finally {
    sub.off('messageBuffer', onMessage);
    await sub.unsubscribe(keys.channel);
    await bus.close();
  }
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the bus message');
    await new Promise((r) => setImmediate(r));
  }
}

function expectAgreement(items: PublishItem[], published: { frame: Buffer; offset: string; storedHead: string }[]): void {
  expect(published).toHaveLength(items.length);
  published.forEach(({ frame, offset, storedHead }, i) => {
    const ts = frameWithOffset(items[i]!.head, offset);
    // Byte for byte, not string equality: UTF-8 through ioredis, Lua and back.
    expect(frame.equals(Buffer.from(ts, 'utf8')), `frame ${i} at ${offset}`).toBe(true);
    // A history read rebuilds the same bytes from the stored head.
    expect(Buffer.from(frameWithOffset(storedHead, offset)).equals(frame)).toBe(true);
    JSON.parse(frame.toString('utf8'));
  });
}

const VARIED: PublishItem[] = [
  fromText('empty_text', ''),
  fromValue('empty_object', {}),
  fromValue('empty_array', []),
  fromValue('empty_string', ''),
  fromValue('null', null),
  fromText('not_json', 'plain text, not JSON'),
  fromText('raw_json', '{ "entity_type": "execution", "entity_id": 12345678901234567890, "z": 1 }'),
  fromValue('événement_😀', { entity_type: 'ünïcödé', user_id: 'józef', text: 'naïve 日本語 😀 \u2028 \u0000 "quoted" \\ back' }),
  fromText('unicode_text', '{"emoji":"😀","rtl":"مرحبا","combining":"e\u0301"}'),
  fromValue('large', { entity_type: 'blob', data: 'x'.repeat(1_000_000), more: 'é'.repeat(100_000) }),
  fromValue('many_keys', Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, i]))),
];

describe('Lua and TypeScript build the same client frame', () => {
  it.each([
    ['a fresh stream (13-digit ms, sequence from 0)', undefined],
    ['offsets with a 6-digit sequence', '9999999999999-99995'],
    ['offsets with a 17-digit ms', '99999999999999999-0'],
    ['the largest offsets Redis allows', '18446744073709551615-18446744073709551600'],
  ])('for empty, unicode and large payloads: %s', async (_what, seedId) => {
    const published = await publishThroughLua(VARIED, seedId);
    expectAgreement(VARIED, published);
    if (seedId !== undefined) expect(published[0]!.offset.length).toBeGreaterThanOrEqual(seedId.length);
  });

  it('property: any envelope from any payload text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
            fc.oneof(fc.string({ unit: 'binary' }), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))),
          ),
          { minLength: 1, maxLength: 20 },
        ),
        async (notifications) => {
          const items = notifications.map(([channel, text]) => fromText(channel, text));
          expectAgreement(items, await publishThroughLua(items));
        },
      ),
      { numRuns: 25 },
    );
  });
});

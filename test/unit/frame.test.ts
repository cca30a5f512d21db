/**
 * protocol/frame.ts: the client frame. Its Lua twin is checked against a real Redis in
 * test/integration/frame-agreement.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeFromText, envelopeFromValue, type Envelope } from '../../src/protocol/envelope.js';
import { routingKeys } from '../../src/protocol/filters.js';
import { frameHead, frameWithOffset, frameWithOffsetLua } from '../../src/protocol/frame.js';

const RECEIVED = new Date('2024-01-15T10:30:00.000Z');

describe('frameHead + frameWithOffset', () => {
  const offsetArb = fc
    .tuple(fc.nat({ max: 2 ** 45 }), fc.nat({ max: 1_000_000 }))
    .map(([ms, seq]) => `${ms}-${seq}`);

  /**
   * The frame must parse to the envelope (as JSON sees it) plus "offset", with offset last; with
   * the payload's own text embedded, the payload is whatever that text parses to.
   */
  function checkFrame(envelope: Envelope, offset: string, payloadJson?: string): void {
    const frame = frameWithOffset(frameHead(envelope, payloadJson), offset);
    expect(frame).not.toContain('\n');
    const parsed = JSON.parse(frame) as Record<string, unknown>;
    const expected: Record<string, unknown> = { ...(JSON.parse(JSON.stringify(envelope)) as Record<string, unknown>), offset };
    if (payloadJson !== undefined) expected['payload'] = JSON.parse(payloadJson);
    expect(parsed).toEqual(expected);
    expect(Object.keys(parsed)).toEqual(Object.keys(expected));
    expect(Object.keys(parsed).at(-1)).toBe('offset');
  }

  it('embeds a JSON payload as it came: whitespace, key order and big integers kept', () => {
    const text = '{ "entity_type": "execution", "id": 12345678901234567890, "z": 1, "a": 2 }';
    const built = envelopeFromText('c', text, RECEIVED);
    expect(built.payloadJson).toBe(text);
    const frame = frameWithOffset(frameHead(built.envelope, built.payloadJson), '1-0');
    expect(frame).toContain('"payload":{ "entity_type": "execution", "id": 12345678901234567890, "z": 1, "a": 2 },');
    expect(JSON.parse(frame)).toMatchObject({ entity_type: 'execution', payload: { z: 1, a: 2 }, offset: '1-0' });
    // Raw newlines (only ever whitespace in valid JSON) would break the bus' newline-delimited
    // batches: they become spaces, with no re-serialization (which overflowed the stack at depth 10,000).
    expect(envelopeFromText('c', '{\n"a":\n1}', RECEIVED).payloadJson).toBe('{ "a": 1}');
    expect(envelopeFromText('c', 'not json', RECEIVED).payloadJson).toBeUndefined();
  });

  it('produces the documented example frame', () => {
    const { envelope } = envelopeFromValue(
      'execution_status_changed',
      { entity_type: 'execution', entity_id: 123, user_id: 456, timestamp: '2024-01-15T10:30:00Z' },
      RECEIVED,
    );
    const frame = frameWithOffset(frameHead(envelope), '1705314600000-0');
    expect(frame).toBe(
      '{"notification_type":"execution_status_changed","entity_type":"execution","entity_id":123,"user_id":456,' +
        '"payload":{"entity_type":"execution","entity_id":123,"user_id":456,"timestamp":"2024-01-15T10:30:00Z"},' +
        '"timestamp":"2024-01-15T10:30:00Z","offset":"1705314600000-0"}',
    );
    // No `type` key: clients tell notifications apart by notification_type.
    expect(JSON.parse(frame)).not.toHaveProperty('type');
  });

  it('property: any JSON payload value gives a valid frame equal to the envelope plus offset', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1 }), fc.jsonValue(), offsetArb, (channel, value, offset) => {
        checkFrame(envelopeFromValue(channel, value, RECEIVED).envelope, offset);
      }),
      { numRuns: 300 },
    );
  });

  it('property: any payload text (JSON or not; unicode, newlines, quotes) gives a valid frame', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\r', '\t', '\u2028', '\u0000', '{', '}', ':', ',', 'é', '😀') }),
      fc.json(),
      fc
        .record(
          {
            entity_type: fc.oneof(fc.string({ unit: 'binary' }), fc.integer(), fc.constant(null)),
            entity_id: fc.oneof(fc.string({ unit: 'binary' }), fc.integer(), fc.double(), fc.constant(null)),
            user_id: fc.oneof(fc.string({ unit: 'binary' }), fc.integer(), fc.constant(null)),
            timestamp: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
            data: fc.jsonValue(),
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), text, offsetArb, (channel, payloadText, offset) => {
        const built = envelopeFromText(channel, payloadText, RECEIVED);
        checkFrame(built.envelope, offset);
        checkFrame(built.envelope, offset, built.payloadJson);
        if (built.payloadWasJson && payloadText !== '' && !payloadText.includes('\n')) expect(built.payloadJson).toBe(payloadText);
        if (!built.payloadWasJson) expect(built.envelope.payload).toBe(payloadText);
        expect(built.keys).toEqual(routingKeys(built.envelope));
      }),
      { numRuns: 300 },
    );
  });
});

describe('frameWithOffsetLua', () => {
  it('is a Lua concatenation of the two variables with the same constant pieces as frameWithOffset', () => {
    expect(frameWithOffsetLua('head', 'offset')).toBe(`head .. ',"offset":"' .. offset .. '"}'`);
    // Substituting Lua's `..` by plain concatenation gives the TypeScript frame.
    const asTs = frameWithOffsetLua('H', 'O').replace(/ \.\. /g, '').replace(/'/g, '');
    expect(asTs.replace('H', '{"a":1').replace('O', '1-0')).toBe(frameWithOffset('{"a":1', '1-0'));
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  envelopeFromText,
  envelopeFromValue,
  frameHead,
  frameWithOffset,
  type Envelope,
} from '../../src/protocol/envelope.js';
import { routingKeys } from '../../src/protocol/filters.js';

const RECEIVED = new Date('2024-01-15T10:30:00.000Z');
const RECEIVED_ISO = '2024-01-15T10:30:00.000Z';

describe('envelopeFromText', () => {
  it('extracts the routing fields of a JSON object payload', () => {
    const payload = {
      entity_type: 'execution',
      entity_id: 123,
      user_id: 456,
      status: 'running',
      timestamp: '2024-02-01T08:00:00Z',
    };
    const built = envelopeFromText('execution_status_changed', JSON.stringify(payload), RECEIVED);
    expect(built.payloadWasJson).toBe(true);
    expect(built.envelope).toEqual({
      notification_type: 'execution_status_changed',
      entity_type: 'execution',
      entity_id: 123,
      user_id: 456,
      payload,
      timestamp: '2024-02-01T08:00:00Z',
    });
    expect(built.keys).toEqual([
      'notification_type:execution_status_changed',
      'entity_type:execution',
      'entity:execution:123',
      'user:456',
    ]);
  });

  it('keeps a numeric entity_id a number and a string one a string', () => {
    const n = envelopeFromText('c', '{"entity_type":"e","entity_id":7}', RECEIVED).envelope;
    expect(n.entity_id).toBe(7);
    expect(typeof n.entity_id).toBe('number');
    const s = envelopeFromText('c', '{"entity_type":"e","entity_id":"7"}', RECEIVED).envelope;
    expect(s.entity_id).toBe('7');
    // ...and both route identically.
    expect(envelopeFromText('c', '{"entity_type":"e","entity_id":7}', RECEIVED).keys).toEqual(
      envelopeFromText('c', '{"entity_type":"e","entity_id":"7"}', RECEIVED).keys,
    );
  });

  it('delivers a non-JSON payload as a string, flagged payloadWasJson=false', () => {
    const built = envelopeFromText('legacy_channel', 'row 42 changed', RECEIVED);
    expect(built.payloadWasJson).toBe(false);
    expect(built.envelope).toEqual({
      notification_type: 'legacy_channel',
      entity_type: null,
      entity_id: null,
      user_id: null,
      payload: 'row 42 changed',
      timestamp: RECEIVED_ISO,
    });
    expect(built.keys).toEqual(['notification_type:legacy_channel']);
  });

  it('treats truncated JSON as non-JSON text', () => {
    const built = envelopeFromText('c', '{"entity_type":"execution"', RECEIVED);
    expect(built.payloadWasJson).toBe(false);
    expect(built.envelope.payload).toBe('{"entity_type":"execution"');
    expect(built.envelope.entity_type).toBeNull();
  });

  it('delivers an empty payload (pg_notify without payload) as null', () => {
    const built = envelopeFromText('wake', '', RECEIVED);
    expect(built.envelope).toEqual({
      notification_type: 'wake',
      entity_type: null,
      entity_id: null,
      user_id: null,
      payload: null,
      timestamp: RECEIVED_ISO,
    });
    expect(built.payloadWasJson).toBe(true);
    expect(built.keys).toEqual(['notification_type:wake']);
  });

  it.each([
    ['an array', '[{"entity_type":"execution","entity_id":1}]', [{ entity_type: 'execution', entity_id: 1 }]],
    ['a number', '42', 42],
    ['a string', '"hello"', 'hello'],
    ['null', 'null', null],
    ['a boolean', 'true', true],
  ])('keeps %s payload whole, with null routing fields', (_what, text, value) => {
    const built = envelopeFromText('c', text, RECEIVED);
    expect(built.payloadWasJson).toBe(true);
    expect(built.envelope).toEqual({
      notification_type: 'c',
      entity_type: null,
      entity_id: null,
      user_id: null,
      payload: value,
      timestamp: RECEIVED_ISO,
    });
  });

  it('uses the payload timestamp when it is a valid date, the receive time otherwise', () => {
    const ts = (t: unknown) => envelopeFromText('c', JSON.stringify({ timestamp: t }), RECEIVED).envelope.timestamp;
    expect(ts('2024-01-15T10:30:00Z')).toBe('2024-01-15T10:30:00Z');
    expect(ts('2023-12-31T23:59:59.123+02:00')).toBe('2023-12-31T23:59:59.123+02:00');
    expect(ts('not a date')).toBe(RECEIVED_ISO);
    expect(ts('')).toBe(RECEIVED_ISO);
    expect(ts(null)).toBe(RECEIVED_ISO);
    expect(ts(1700000000000)).toBe(RECEIVED_ISO);
    expect(ts({ at: 'x' })).toBe(RECEIVED_ISO);
    expect(envelopeFromText('c', '{}', RECEIVED).envelope.timestamp).toBe(RECEIVED_ISO);
  });

  it('ignores routing fields of the wrong type and empty strings', () => {
    const built = envelopeFromText(
      'c',
      JSON.stringify({ entity_type: '', entity_id: true, user_id: { id: 1 } }),
      RECEIVED,
    );
    expect(built.envelope.entity_type).toBeNull();
    expect(built.envelope.entity_id).toBeNull();
    expect(built.envelope.user_id).toBeNull();
    expect(built.keys).toEqual(['notification_type:c']);
    const more = envelopeFromText('c', JSON.stringify({ entity_type: ['x'], entity_id: '', user_id: null }), RECEIVED);
    expect(more.envelope.entity_type).toBeNull();
    expect(more.envelope.entity_id).toBeNull();
    expect(more.envelope.user_id).toBeNull();
  });

  it('renders a numeric entity_type as text', () => {
    const built = envelopeFromText('c', '{"entity_type":5,"entity_id":1}', RECEIVED);
    expect(built.envelope.entity_type).toBe('5');
    expect(built.keys).toContain('entity:5:1');
  });

  it('keeps user_id 0 (falsy but present)', () => {
    const built = envelopeFromText('c', '{"user_id":0}', RECEIVED);
    expect(built.envelope.user_id).toBe(0);
    expect(built.keys).toContain('user:0');
  });
});

describe('envelopeFromValue', () => {
  it('builds the same envelope as the text form for an already-parsed object', () => {
    const value = { entity_type: 'inquiry', entity_id: 'abc', user_id: 9, extra: [1, 2] };
    const built = envelopeFromValue('inquiry_created', value, RECEIVED);
    expect(built.envelope).toEqual({
      notification_type: 'inquiry_created',
      entity_type: 'inquiry',
      entity_id: 'abc',
      user_id: 9,
      payload: value,
      timestamp: RECEIVED_ISO,
    });
    expect(built.payloadWasJson).toBe(true);
    expect(built.keys).toEqual(routingKeys(built.envelope));
    expect(envelopeFromText('inquiry_created', JSON.stringify(value), RECEIVED)).toEqual({ ...built, payloadJson: JSON.stringify(value) });
  });

  it('takes the timestamp from the value when valid, else the default time', () => {
    expect(envelopeFromValue('c', { timestamp: '2020-05-05T05:05:05Z' }, RECEIVED).envelope.timestamp).toBe(
      '2020-05-05T05:05:05Z',
    );
    expect(envelopeFromValue('c', { timestamp: 'yesterday-ish' }, RECEIVED).envelope.timestamp).toBe(RECEIVED_ISO);
  });

  it('has null routing fields for non-object values', () => {
    for (const value of [null, 1, 'x', [1], true]) {
      const { envelope, keys } = envelopeFromValue('c', value, RECEIVED);
      expect(envelope.entity_type).toBeNull();
      expect(envelope.entity_id).toBeNull();
      expect(envelope.user_id).toBeNull();
      expect(envelope.payload).toEqual(value);
      expect(keys).toEqual(['notification_type:c']);
    }
  });
});

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
    // Raw newlines (JSON whitespace) would break the bus' newline-delimited batches: re-serialized.
    expect(envelopeFromText('c', '{\n"a": 1}', RECEIVED).payloadJson).toBeUndefined();
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

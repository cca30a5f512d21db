import { describe, expect, it } from 'vitest';
import { envelopeFromText, envelopeFromValue } from '../../src/protocol/envelope.js';
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

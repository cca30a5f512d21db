import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  PONG,
  errorMessage,
  parseClientFrame,
  subscribedMessage,
  unsubscribedMessage,
  welcomeMessage,
  type ParseResult,
} from '../../src/protocol/messages.js';
import { resetMessage, resumedMessage } from '../../src/protocol/messages.js';

/** An ArrayBuffer holding exactly these bytes, as uWebSockets.js hands messages over. */
function bytes(input: string | number[]): ArrayBuffer {
  const view = typeof input === 'string' ? new TextEncoder().encode(input) : Uint8Array.from(input);
  // Copy into a fresh buffer so the test does not depend on the encoder's backing store size.
  const out = new ArrayBuffer(view.byteLength);
  new Uint8Array(out).set(view);
  return out;
}

/** Runs the same frame through both input forms and checks they agree. */
function parseBoth(text: string): ParseResult {
  const fromString = parseClientFrame(text);
  const fromBytes = parseClientFrame(bytes(text));
  expect(fromBytes).toEqual(fromString);
  return fromString;
}

/** A subscription without a predicate, as the parser returns it. */
function bare(filter: string) {
  return { filter, where: undefined, id: filter };
}

function errorCode(r: ParseResult): ErrorCode {
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.message)}`);
  return r.code;
}

describe('parseClientFrame: valid messages', () => {
  it('parses subscribe', () => {
    expect(parseBoth('{"type":"subscribe","filter":"entity_type:execution"}')).toEqual({
      ok: true,
      message: { type: 'subscribe', subscription: bare('entity_type:execution') },
    });
  });

  it('parses unsubscribe', () => {
    expect(parseBoth('{"type":"unsubscribe","filter":"entity:execution:123"}')).toEqual({
      ok: true,
      message: { type: 'unsubscribe', subscription: bare('entity:execution:123') },
    });
  });

  it('parses ping', () => {
    expect(parseBoth('{"type":"ping"}')).toEqual({ ok: true, message: { type: 'ping' } });
  });

  it('ignores extra fields and whitespace', () => {
    expect(parseBoth(' { "type" : "subscribe", "filter" : "all", "id" : 3 } \n')).toEqual({
      ok: true,
      message: { type: 'subscribe', subscription: bare('all') },
    });
    expect(parseBoth('{"type":"ping","filter":"nonsense"}')).toEqual({ ok: true, message: { type: 'ping' } });
  });

  it('decodes multi-byte UTF-8 from an ArrayBuffer', () => {
    expect(parseClientFrame(bytes('{"type":"subscribe","filter":"user:józef😀"}'))).toEqual({
      ok: true,
      message: { type: 'subscribe', subscription: bare('user:józef😀') },
    });
  });

  it('reads only the bytes of the given ArrayBuffer slice', () => {
    const whole = new TextEncoder().encode('xx{"type":"ping"}yy');
    const slice = whole.buffer.slice(whole.byteOffset + 2, whole.byteOffset + whole.byteLength - 2);
    expect(parseClientFrame(slice)).toEqual({ ok: true, message: { type: 'ping' } });
  });
});

describe('parseClientFrame: invalid frames', () => {
  it.each(['', 'not json', '{"type":"ping"', "{'type':'ping'}", '{"type":"ping"}}'])(
    'rejects the invalid JSON %j with invalid_json',
    (text) => {
      const r = parseBoth(text);
      expect(errorCode(r)).toBe(ErrorCode.InvalidJson);
      expect(r).toMatchObject({ message: 'frame is not valid JSON' });
    },
  );

  it.each([
    ['a lone continuation byte', [0x7b, 0x80, 0x7d]],
    ['a truncated 2-byte sequence', [0x22, 0xc3, 0x22]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a UTF-16 surrogate encoded in UTF-8', [0xed, 0xa0, 0x80]],
    ['0xFF', [0xff]],
  ])('rejects invalid UTF-8 (%s) with invalid_json', (_what, raw) => {
    const r = parseClientFrame(bytes(raw));
    expect(errorCode(r)).toBe(ErrorCode.InvalidJson);
    expect(r).toMatchObject({ message: 'frame is not valid UTF-8' });
  });

  it('rejects invalid UTF-8 inside an otherwise valid message (no silent replacement character)', () => {
    const prefix = [...new TextEncoder().encode('{"type":"subscribe","filter":"user:')];
    const suffix = [...new TextEncoder().encode('"}')];
    expect(errorCode(parseClientFrame(bytes([...prefix, 0xff, ...suffix])))).toBe(ErrorCode.InvalidJson);
  });

  it.each(['[]', '[{"type":"ping"}]', '"ping"', '42', 'null', 'true'])(
    'rejects the non-object %j with invalid_message',
    (text) => {
      expect(errorCode(parseBoth(text))).toBe(ErrorCode.InvalidMessage);
    },
  );

  it.each(['{}', '{"filter":"all"}', '{"type":null}', '{"type":1}', '{"type":["ping"]}', '{"Type":"ping"}'])(
    'rejects %j (no string type) with invalid_message',
    (text) => {
      const r = parseBoth(text);
      expect(errorCode(r)).toBe(ErrorCode.InvalidMessage);
      expect(r).toMatchObject({ message: 'message needs a string "type"' });
    },
  );

  it.each(['{"type":"subscribed"}', '{"type":"PING"}', '{"type":""}', '{"type":"welcome"}', '{"type":"pong"}'])(
    'rejects the unknown type in %j with unknown_type',
    (text) => {
      const r = parseBoth(text);
      expect(errorCode(r)).toBe(ErrorCode.UnknownType);
      expect(r).toMatchObject({ message: expect.stringContaining('expected subscribe, unsubscribe, resume, refresh or ping') });
    },
  );

  it('truncates a long unknown type in the error message', () => {
    const type = 'x'.repeat(10_000);
    const r = parseBoth(JSON.stringify({ type }));
    expect(errorCode(r)).toBe(ErrorCode.UnknownType);
    if (r.ok) return;
    expect(r.message).toContain(`"${'x'.repeat(64)}"`);
    expect(r.message.length).toBeLessThan(200);
  });

  it.each([
    ['{"type":"subscribe"}', 'filter must be a string'],
    ['{"type":"subscribe","filter":42}', 'filter must be a string'],
    ['{"type":"subscribe","filter":""}', 'filter must not be empty'],
    ['{"type":"subscribe","filter":"entity:execution"}', 'entity filter must be "entity:TYPE:ID"'],
    ['{"type":"unsubscribe","filter":"user:"}', 'user filter needs an id'],
    ['{"type":"unsubscribe","filter":"bogus"}', 'unknown filter "bogus"'],
    ['{"type":"subscribe","filter":"user:1\\n"}', 'control characters'],
  ])('rejects the bad filter in %s with invalid_filter and the filter message', (text, message) => {
    const r = parseBoth(text);
    expect(errorCode(r)).toBe(ErrorCode.InvalidFilter);
    expect(r).toMatchObject({ message: expect.stringContaining(message) });
  });
});

describe('server messages', () => {
  it('welcome has type, client_id and the fixed message', () => {
    expect(JSON.parse(welcomeMessage('abc-123'))).toEqual({
      type: 'welcome',
      client_id: 'abc-123',
      message: 'Connected to notifier',
    });
  });

  it('welcome carries the extensions epoch and offset after the required fields', () => {
    const text = welcomeMessage('c1', { epoch: 'e-42', offset: '5-0' });
    expect(JSON.parse(text)).toEqual({ type: 'welcome', client_id: 'c1', message: 'Connected to notifier', epoch: 'e-42', offset: '5-0' });
    expect(Object.keys(JSON.parse(text)).slice(0, 3)).toEqual(['type', 'client_id', 'message']);
  });

  it('error has type, code and message', () => {
    expect(JSON.parse(errorMessage(ErrorCode.InvalidFilter, 'bad "filter"\n'))).toEqual({
      type: 'error',
      code: 'invalid_filter',
      message: 'bad "filter"\n',
    });
  });

  it('error codes are the documented stable strings', () => {
    expect(ErrorCode).toEqual({
      InvalidJson: 'invalid_json',
      InvalidMessage: 'invalid_message',
      UnknownType: 'unknown_type',
      InvalidFilter: 'invalid_filter',
      InvalidWhere: 'invalid_where',
      InvalidResume: 'invalid_resume',
      TooManySubscriptions: 'too_many_subscriptions',
      BinaryNotSupported: 'binary_not_supported',
      Forbidden: 'forbidden',
      Unauthorized: 'unauthorized',
      RefreshUnavailable: 'refresh_unavailable',
    });
  });

  it('pong and the subscription acknowledgements', () => {
    expect(JSON.parse(PONG)).toEqual({ type: 'pong' });
    expect(JSON.parse(subscribedMessage('user:1'))).toEqual({ type: 'subscribed', filter: 'user:1' });
    expect(JSON.parse(unsubscribedMessage('all'))).toEqual({ type: 'unsubscribed', filter: 'all' });
  });
});

describe('resume', () => {
  const ok = { type: 'resume', epoch: 'e1', offset: '17-3', filters: ['all', 'user:1', 'all'] };

  it('parses epoch, offset and filters (deduplicated)', () => {
    expect(parseClientFrame(JSON.stringify(ok))).toEqual({
      ok: true,
      message: { type: 'resume', epoch: 'e1', offset: '17-3', subscriptions: [bare('all'), bare('user:1')] },
    });
  });

  it.each([
    [{ ...ok, epoch: undefined }, 'invalid_resume'],
    [{ ...ok, epoch: 7 }, 'invalid_resume'],
    [{ ...ok, epoch: 'e'.repeat(129) }, 'invalid_resume'],
    [{ ...ok, offset: 'yesterday' }, 'invalid_resume'],
    [{ ...ok, offset: 17 }, 'invalid_resume'],
    [{ ...ok, filters: 'all' }, 'invalid_resume'],
    [{ ...ok, filters: Array(1001).fill('all') }, 'invalid_resume'],
    [{ ...ok, filters: ['all', 'bogus:1'] }, 'invalid_filter'],
  ])('rejects %j with %s', (msg, code) => {
    expect(parseClientFrame(JSON.stringify(msg))).toMatchObject({ ok: false, code });
  });

  it('accepts an empty epoch (the client never learned one; it will get reset)', () => {
    expect(parseClientFrame(JSON.stringify({ ...ok, epoch: '' }))).toMatchObject({ ok: true, message: { epoch: '' } });
  });

  it('builds resumed and reset messages', () => {
    expect(JSON.parse(resumedMessage('e', '9-1', 3))).toEqual({ type: 'resumed', epoch: 'e', offset: '9-1', replayed: 3 });
    expect(JSON.parse(resetMessage('expired', 'e', '9-1'))).toEqual({ type: 'reset', reason: 'expired', epoch: 'e', offset: '9-1' });
  });
});

describe('subscriptions with a payload predicate (where)', () => {
  const where = { status: { in: ['timeout', 'failed', 'failed'] }, 'payload.rule': { eq: 'core.x' } };
  const id = 'entity_type:enforcement\u001f{"payload.rule":{"eq":"core.x"},"status":{"in":["failed","timeout"]}}';

  it('parses subscribe and unsubscribe with where into one id per predicate, however it is written', () => {
    for (const type of ['subscribe', 'unsubscribe'] as const) {
      const r = parseClientFrame(JSON.stringify({ type, filter: 'entity_type:enforcement', where }));
      expect(r).toMatchObject({ ok: true, message: { type, subscription: { filter: 'entity_type:enforcement', id } } });
      const reordered = { 'payload.rule': { eq: 'core.x' }, status: { in: ['failed', 'timeout'] } };
      expect(parseClientFrame(JSON.stringify({ type, filter: 'entity_type:enforcement', where: reordered }))).toMatchObject({ ok: true, message: { subscription: { id } } });
    }
  });

  it.each([
    [{ status: 'failed' }, 'must be an object of operators'],
    [{ status: { like: 'f%' } }, 'unknown operator'],
    [{}, 'must not be empty'],
    [[1], 'must be an object of paths'],
    [{ 'a.b.c.d': { eq: 1 } }, 'depth limit'],
    [Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, { eq: i }])), 'at most 16 leaves'],
  ])('refuses where %j with invalid_where (%s)', (bad, text) => {
    const r = parseClientFrame(JSON.stringify({ type: 'subscribe', filter: 'all', where: bad }));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.InvalidWhere, message: expect.stringContaining(text) });
  });

  it('checks the filter before the where', () => {
    expect(parseClientFrame(JSON.stringify({ type: 'subscribe', filter: 'bogus', where }))).toMatchObject({ ok: false, code: ErrorCode.InvalidFilter });
  });

  it('resume takes filters and {filter, where} pairs, deduplicated by id', () => {
    const r = parseClientFrame(JSON.stringify({ type: 'resume', epoch: 'e', offset: '1-0', filters: ['all', { filter: 'entity_type:enforcement', where }, { filter: 'all' }, { filter: 'entity_type:enforcement', where }] }));
    expect(r).toMatchObject({ ok: true, message: { subscriptions: [bare('all'), { id }] } });
    if (r.ok && r.message.type === 'resume') expect(r.message.subscriptions).toHaveLength(2);
    expect(parseClientFrame(JSON.stringify({ type: 'resume', epoch: 'e', offset: '1-0', filters: [{ filter: 'all', where: { x: {} } }] }))).toMatchObject({ ok: false, code: ErrorCode.InvalidWhere, message: expect.stringMatching(/^resume: /) });
  });

  it('acknowledgements echo the predicate in canonical form', () => {
    expect(JSON.parse(subscribedMessage(id))).toEqual({ type: 'subscribed', filter: 'entity_type:enforcement', where: { 'payload.rule': { eq: 'core.x' }, status: { in: ['failed', 'timeout'] } } });
    expect(JSON.parse(unsubscribedMessage(id, 'forbidden'))).toMatchObject({ type: 'unsubscribed', filter: 'entity_type:enforcement', reason: 'forbidden' });
  });
});

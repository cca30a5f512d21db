import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWire, metaFragment } from '../../src/bus/wire.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead, frameWithOffset } from '../../src/protocol/frame.js';

/** One record of a batch message (see redis-scripts.ts). */
const record = (offset: string, prev: string, meta: string, frame: string) => `{"o":"${offset}","p":"${prev}",${meta}}\n${frame}`;

/** The bytes the publish script sends for a batch of one notification. */
function notificationMessage(offset: string, prev: string, meta: string, frame: string): Buffer {
  return Buffer.from(`N${record(offset, prev, meta, frame)}`, 'utf8');
}

function decodeNotifications(message: Buffer) {
  const decoded = decodeWire(message);
  if (decoded?.kind !== 'notifications') throw new Error(`expected notifications, got ${JSON.stringify(decoded)}`);
  return decoded.items;
}

function decodeNotification(message: Buffer) {
  const items = decodeNotifications(message);
  expect(items).toHaveLength(1);
  return items[0] as (typeof items)[number];
}

describe('decodeWire: notifications', () => {
  it('decodes the header and hands the frame bytes over untouched', () => {
    const frame = '{"notification_type":"c","entity_type":null,"payload":{"a":1},"offset":"5-1"}';
    const n = decodeNotification(
      notificationMessage('5-1', '5-0', '"k":["notification_type:c","user:1"],"t":"c","s":1700000000123', frame),
    );
    expect(n).toMatchObject({
      offset: '5-1',
      prev: '5-0',
      keys: ['notification_type:c', 'user:1'],
      notificationType: 'c',
      sourceTime: 1700000000123,
    });
    expect(Buffer.isBuffer(n.frame)).toBe(true);
    expect(n.frame.toString()).toBe(frame);
  });

  it('ends the header at the first newline; escaped newlines inside the frame are kept', () => {
    const { envelope } = envelopeFromValue('c', { text: 'line 1\nline 2\r\n"quoted"\\' }, new Date(0));
    const frame = frameWithOffset(frameHead(envelope), '9-0');
    expect(frame).toContain('\\n');
    const n = decodeNotification(notificationMessage('9-0', '0-0', metaFragment([], 'c', 0), frame));
    expect(n.frame.toString()).toBe(frame);
    expect(JSON.parse(n.frame.toString())).toMatchObject({ payload: { text: 'line 1\nline 2\r\n"quoted"\\' }, offset: '9-0' });
  });

  it('keeps multi-byte UTF-8 in header and frame intact', () => {
    const frame = '{"notification_type":"événement","payload":"😀","offset":"1-0"}';
    const n = decodeNotification(notificationMessage('1-0', '0-0', metaFragment(['user:józef'], 'événement', 1), frame));
    expect(n.keys).toEqual(['user:józef']);
    expect(n.notificationType).toBe('événement');
    expect(n.frame.toString('utf8')).toBe(frame);
  });

  it('decodes a batch of records in order, each frame its own slice', () => {
    const meta = metaFragment(['user:1'], 'c', 5);
    const frames = ['{"a":1,"offset":"1-0"}', '', '{"b":"x\\ny","offset":"1-2"}'];
    const items = decodeNotifications(
      Buffer.from(`N${record('1-0', '0-0', meta, frames[0] ?? '')}\n${record('1-1', '1-0', meta, frames[1] ?? '')}\n${record('1-2', '1-1', meta, frames[2] ?? '')}`),
    );
    expect(items.map((n) => [n.offset, n.prev, n.frame.toString()])).toEqual([
      ['1-0', '0-0', frames[0]],
      ['1-1', '1-0', frames[1]],
      ['1-2', '1-1', frames[2]],
    ]);
  });

  it('still decodes the single-notification form of older listeners', () => {
    const n = decodeNotification(Buffer.from(`n${record('3-0', '2-0', metaFragment([], 'c', 0), '{"x":"a\nb"}')}`));
    expect(n.offset).toBe('3-0');
    // The old form ran to the end of the message: nothing to split.
    expect(n.frame.toString()).toBe('{"x":"a\nb"}');
  });

  it('accepts an empty frame (the subscriber forwards whatever follows the header)', () => {
    const n = decodeNotification(notificationMessage('1-0', '0-0', metaFragment([], 't', 0), ''));
    expect(n.frame.length).toBe(0);
  });
});

describe('decodeWire: heartbeats', () => {
  it('decodes epoch, last offset, leader and time', () => {
    const decoded = decodeWire(Buffer.from('h{"e":"epoch-1","l":"17-3","leader":"listener-a","at":1700000000000}'));
    expect(decoded).toEqual({
      kind: 'heartbeat',
      h: { epoch: 'epoch-1', last: '17-3', leader: 'listener-a', at: 1700000000000 },
    });
  });

  it('decodes the heartbeat of an empty stream', () => {
    expect(decodeWire(Buffer.from('h{"e":"x","l":"0-0","leader":"l","at":0}'))).toEqual({
      kind: 'heartbeat',
      h: { epoch: 'x', last: '0-0', leader: 'l', at: 0 },
    });
  });
});

describe('decodeWire: malformed messages give null', () => {
  it.each([
    ['an empty message', ''],
    ['an unknown kind byte', 'x{"o":"1-0"}\n{}'],
    ['a JSON object without kind byte', '{"o":"1-0","p":"0-0","k":[],"t":"c","s":0}\n{}'],
    ['a notification without newline', 'n{"o":"1-0","p":"0-0","k":[],"t":"c","s":0}'],
    ['a batch without newline', 'N{"o":"1-0","p":"0-0","k":[],"t":"c","s":0}'],
    ['a batch whose second header is broken', 'N{"o":"1-0","p":"0-0","k":[],"t":"c","s":0}\n{}\n{"o":\n{}'],
    ['a batch whose second record has no frame line', 'N{"o":"1-0","p":"0-0","k":[],"t":"c","s":0}\n{}\n{"o":"1-1","p":"1-0","k":[],"t":"c","s":0}'],
    ['an empty batch', 'N'],
    ['a notification with a broken header', 'n{"o":"1-0",\n{}'],
    ['a notification with an empty header', 'n\n{}'],
    ['a notification whose header is null', 'nnull\n{}'],
    ['a notification whose header is an empty object', 'n{}\n{}'],
    ['a notification whose header is an array', 'n[]\n{}'],
    ['a notification whose header is a string', 'n"o"\n{}'],
    ['a notification without keys', 'n{"o":"1-0","p":"0-0","t":"c","s":0}\n{}'],
    ['a notification whose keys are not an array', 'n{"o":"1-0","p":"0-0","k":"user:1","t":"c","s":0}\n{}'],
    ['a notification whose keys are not strings', 'n{"o":"1-0","p":"0-0","k":[1],"t":"c","s":0}\n{}'],
    ['a notification without offset', 'n{"p":"0-0","k":[],"t":"c","s":0}\n{}'],
    ['a notification with a numeric offset', 'n{"o":1,"p":"0-0","k":[],"t":"c","s":0}\n{}'],
    ['a notification without prev', 'n{"o":"1-0","k":[],"t":"c","s":0}\n{}'],
    ['a notification without type', 'n{"o":"1-0","p":"0-0","k":[],"s":0}\n{}'],
    ['a notification with a string source time', 'n{"o":"1-0","p":"0-0","k":[],"t":"c","s":"0"}\n{}'],
    ['a heartbeat with broken JSON', 'h{"e":"x"'],
    ['a bare heartbeat byte', 'h'],
    ['a heartbeat whose body is null', 'hnull'],
    ['a heartbeat with an empty object', 'h{}'],
    ['a heartbeat without last offset', 'h{"e":"x","leader":"l","at":0}'],
    ['a heartbeat with a numeric epoch', 'h{"e":1,"l":"0-0","leader":"l","at":0}'],
    ['a heartbeat with a string time', 'h{"e":"x","l":"0-0","leader":"l","at":"now"}'],
  ])('%s', (_what, text) => {
    expect(decodeWire(Buffer.from(text, 'utf8'))).toBeNull();
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(0x4e, 0x6e, 0x68, 0x00), (body, first) => {
        const message = Buffer.concat([Buffer.from([first]), Buffer.from(body)]);
        const decoded = decodeWire(message);
        if (decoded?.kind === 'notifications') {
          for (const n of decoded.items) {
            expect(Array.isArray(n.keys)).toBe(true);
            expect(typeof n.offset).toBe('string');
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('metaFragment', () => {
  it('builds the offset-independent header fields', () => {
    expect(metaFragment(['notification_type:c', 'user:1'], 'c', 12.9)).toBe(
      '"k":["notification_type:c","user:1"],"t":"c","s":12',
    );
  });

  it('property: round-trips through decodeWire', () => {
    const offset = fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${a}-${b}`);
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary' }), { maxLength: 5 }),
        fc.string({ unit: 'binary' }),
        fc.double({ min: 0, max: 2 ** 50, noNaN: true }),
        offset,
        offset,
        fc.jsonValue(),
        (keys, type, sourceTime, o, p, payload) => {
          const frame = frameWithOffset(frameHead(envelopeFromValue(type, payload, new Date(0)).envelope), o);
          const n = decodeNotification(notificationMessage(o, p, metaFragment(keys, type, sourceTime), frame));
          expect(n).toMatchObject({ offset: o, prev: p, keys, notificationType: type, sourceTime: Math.trunc(sourceTime) });
          expect(n.frame.toString('utf8')).toBe(frame);
        },
      ),
      { numRuns: 200 },
    );
  });
});

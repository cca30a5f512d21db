/**
 * The text of an SSE stream and what a GET /sse request says (src/edge/sse-frames.ts).
 */
import { describe, expect, it } from 'vitest';
import { closeEvent, controlEvent, notificationEvent, parseEventId, parseSseRequest } from '../../src/edge/sse-frames.js';

const EPOCH = '6ae4c612-52b0-49da-8e4c-89f3209c2e6d';

describe('events', () => {
  it('writes a notification as its id and its frame on one data line', () => {
    expect(notificationEvent(EPOCH, '12-3', '{"a":1}')).toBe(`id: ${EPOCH}/12-3\ndata: {"a":1}\n\n`);
    expect(notificationEvent(EPOCH, '12-3', Buffer.from('{"a":1}'))).toBe(`id: ${EPOCH}/12-3\ndata: {"a":1}\n\n`);
  });

  it('splits a frame with a raw line break over several data lines rather than cutting it', () => {
    expect(notificationEvent(EPOCH, '1-0', '{"a":\n1}')).toBe(`id: ${EPOCH}/1-0\ndata: {"a":\ndata: 1}\n\n`);
    expect(controlEvent('x\r\ny')).toBe('event: message\ndata: x\ndata: y\n\n');
  });

  it('names control messages by type, with an id when they carry a position', () => {
    expect(controlEvent(JSON.stringify({ type: 'resumed', epoch: EPOCH, offset: '5-0', replayed: 2 }))).toBe(
      `event: resumed\nid: ${EPOCH}/5-0\ndata: {"type":"resumed","epoch":"${EPOCH}","offset":"5-0","replayed":2}\n\n`,
    );
    expect(controlEvent('{"type":"error","code":"x","message":"m"}')).toBe('event: error\ndata: {"type":"error","code":"x","message":"m"}\n\n');
    // A resuming stream's welcome names where it resumes from, not the edge's newest offset.
    expect(controlEvent(JSON.stringify({ type: 'welcome', epoch: EPOCH, offset: '9-0' }), { epoch: EPOCH, offset: '3-0' })).toMatch(new RegExp(`^event: welcome\nid: ${EPOCH}/3-0\n`));
    expect(closeEvent(4001, 'slow')).toBe('event: close\ndata: {"type":"close","code":4001,"reason":"slow"}\n\n');
  });
});

describe('event ids', () => {
  it('reads <epoch>/<offset> and refuses anything else', () => {
    expect(parseEventId(`${EPOCH}/1795397173739-0`)).toEqual({ epoch: EPOCH, offset: '1795397173739-0' });
    for (const bad of ['', '/1-0', `${EPOCH}/`, `${EPOCH}/x`, `${EPOCH}`, 'a b/1-0', `${'e'.repeat(200)}/1-0`]) expect(parseEventId(bad), bad).toBeUndefined();
  });
});

describe('the request', () => {
  it('reads repeated filters (deduplicated), one where for all of them, and the position', () => {
    const r = parseSseRequest(`filter=all&filter=user:1&filter=all&where=${encodeURIComponent('{"status":{"eq":"x"}}')}&last_event_id=${EPOCH}/1-0`, '');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.subscriptions.map((s) => s.filter)).toEqual(['all', 'user:1']);
    expect(r.subscriptions.every((s) => s.where !== undefined)).toBe(true);
    expect(r.from).toEqual({ epoch: EPOCH, offset: '1-0' });
  });

  it('takes the Last-Event-ID header over the query parameter', () => {
    const r = parseSseRequest(`filter=all&last_event_id=${EPOCH}/1-0`, `${EPOCH}/2-0`);
    expect(r.ok && r.from).toEqual({ epoch: EPOCH, offset: '2-0' });
  });

  it('refuses a request without filters, with a bad filter, where or position', () => {
    expect(parseSseRequest('', '')).toMatchObject({ ok: false, error: 'invalid_filter' });
    expect(parseSseRequest('filter=', '')).toMatchObject({ ok: false, error: 'invalid_filter' });
    expect(parseSseRequest('filter=all&where={', '')).toMatchObject({ ok: false, error: 'invalid_where' });
    expect(parseSseRequest('filter=all&where=1&where=2', '')).toMatchObject({ ok: false, error: 'invalid_where' });
    expect(parseSseRequest('filter=all', 'nope')).toMatchObject({ ok: false, error: 'invalid_last_event_id' });
  });
});

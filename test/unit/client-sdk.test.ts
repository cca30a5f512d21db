/**
 * The client SDK against a scripted socket, with fake timers: reconnect with full jitter, token per
 * connect, resume with the last offset, dedupe and order, refresh before expiry, close codes,
 * half-open detection, forbidden filters, close().
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotifierClient, type ClientError, type ClientState, type Notification, type NotifierClientOptions } from '../../src/client/index.js';
import { FakeSocket } from '../helpers/fake-socket.js';

let clients: NotifierClient[] = [];
beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-06-01T00:00:00Z') });
  FakeSocket.reset();
});
afterEach(() => {
  clients.forEach((c) => c.close());
  clients = [];
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function start(opts: Partial<NotifierClientOptions> = {}) {
  const client = new NotifierClient({ url: 'ws://edge/ws', WebSocket: FakeSocket, staleAfterMs: 0, ...opts });
  clients.push(client);
  const states: string[] = [];
  const errors: ClientError[] = [];
  client.on('state', (s: ClientState, info) => states.push(info ? `${s}:${info.code}` : s));
  client.on('error', (e) => errors.push(e));
  return { client, states, errors };
}

/** Lets the microtask that connects (and an awaited token) run. */
async function flush(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

describe('connecting', () => {
  it('calls token() for every connect and offers notifier.v1 with the bearer entry', async () => {
    let n = 0;
    const token = vi.fn(async () => `tok${++n}`);
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { states } = start({ token });
    await flush();
    expect(FakeSocket.last.protocols).toEqual(['notifier.v1', 'bearer.tok1']);
    FakeSocket.last.open();
    FakeSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(500);
    expect(token).toHaveBeenCalledTimes(2);
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.last.protocols).toEqual(['notifier.v1', 'bearer.tok2']);
    expect(states).toEqual(['connecting', 'connected', 'connecting:1006']);
  });

  it('without a token offers notifier.v1 alone', async () => {
    start();
    await flush();
    expect(FakeSocket.last.protocols).toEqual(['notifier.v1']);
    expect(FakeSocket.last.url).toBe('ws://edge/ws');
  });

  it('reconnects with full jitter: random(0, min(max, min·2^attempt)), reset after a welcome', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(1 - Number.EPSILON);
    start({ reconnect: { minMs: 100, maxMs: 1000 } });
    await flush();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = FakeSocket.all.length;
      FakeSocket.last.serverClose(1006);
      let waited = 0;
      while (FakeSocket.all.length === before) {
        await vi.advanceTimersByTimeAsync(1);
        waited++;
      }
      delays.push(waited);
    }
    // random() just below 1: each delay just below its cap (the fake clock counts whole milliseconds).
    const caps = [100, 200, 400, 800, 1000, 1000];
    delays.forEach((d, i) => expect(d).toBeGreaterThanOrEqual(caps[i]! - 1));
    delays.forEach((d, i) => expect(d).toBeLessThanOrEqual(caps[i]!));
    // The lower bound: random() = 0 reconnects at once.
    random.mockReturnValue(0);
    FakeSocket.last.open();
    FakeSocket.last.serverClose(4001);
    await flush();
    expect(FakeSocket.all).toHaveLength(8);
    // After the welcome the attempts start again: at most minMs.
    random.mockReturnValue(0.999);
    FakeSocket.last.open();
    FakeSocket.last.serverClose(1012);
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.all).toHaveLength(9);
  });

  it('a throwing token() is reported as an error and retried with back-off, without an unhandled rejection', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    let calls = 0;
    const { errors } = start({
      token: () => {
        calls++;
        if (calls === 1) throw new Error('no session');
        if (calls === 2) return Promise.reject(new Error('later'));
        return 'ok';
      },
    });
    await flush();
    expect(FakeSocket.all).toHaveLength(0);
    expect(errors).toEqual([{ kind: 'token', error: new Error('no session') }]);
    await vi.advanceTimersByTimeAsync(250);
    expect(errors).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.all).toHaveLength(1);
    expect(FakeSocket.last.protocols).toEqual(['notifier.v1', 'bearer.ok']);
  });

  it('a missing WebSocket constructor is reported, not thrown', async () => {
    const client = new NotifierClient({ url: 'ws://edge/ws' });
    clients.push(client);
    const errors: ClientError[] = [];
    client.on('error', (e) => errors.push(e));
    await flush();
    expect(errors[0]?.kind).toBe('socket');
  });
});

describe('subscriptions across reconnects', () => {
  it('subscribes each filter on a fresh start, then resumes with the last offset delivered', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client } = start();
    const got: string[] = [];
    client.subscribe('entity_type:thing', (n) => got.push(`a${n.offset}`));
    client.subscribe('user:7', (n) => got.push(`b${n.offset}`));
    await flush();
    const s1 = FakeSocket.last;
    s1.open({ epoch: 'e1', offset: '100-0' });
    expect(s1.messages).toEqual([
      { type: 'subscribe', filter: 'entity_type:thing' },
      { type: 'subscribe', filter: 'user:7' },
    ]);
    s1.notify('101-0');
    s1.notify('102-0', { entity_type: 'other', user_id: 7 });
    s1.serverClose(1006);
    await flush();
    const s2 = FakeSocket.last;
    expect(s2).not.toBe(s1);
    s2.open({ epoch: 'e1', offset: '200-0' });
    expect(s2.messages).toEqual([{ type: 'resume', epoch: 'e1', offset: '102-0', filters: ['entity_type:thing', 'user:7'] }]);
    // Replay overlaps what was seen: dropped; then the rest, in order.
    s2.notify('101-0');
    s2.notify('102-0', { user_id: 7 });
    s2.notify('103-0', { user_id: 7 });
    s2.receive({ type: 'resumed', epoch: 'e1', offset: '103-0', replayed: 3 });
    s2.notify('103-0');
    s2.notify('104-0');
    expect(got).toEqual(['a101-0', 'b102-0', 'a103-0', 'b103-0', 'a104-0']);
  });

  it('without any notification resumes from the welcome offset; a reset is emitted and its position kept', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client } = start();
    const resets: unknown[] = [];
    client.on('reset', (r) => resets.push(r));
    const got: string[] = [];
    client.subscribe('all', (n) => got.push(n.offset ?? ''));
    await flush();
    FakeSocket.last.open({ epoch: 'e1', offset: '100-0' });
    FakeSocket.last.serverClose(4003);
    await flush();
    FakeSocket.last.open({ epoch: 'e2', offset: '5-0' });
    expect(FakeSocket.last.messages).toEqual([{ type: 'resume', epoch: 'e1', offset: '100-0', filters: ['all'] }]);
    FakeSocket.last.receive({ type: 'reset', reason: 'epoch', epoch: 'e2', offset: '5-0' });
    expect(resets).toEqual([{ reason: 'epoch', epoch: 'e2', offset: '5-0' }]);
    // The new epoch's offsets are lower than the old ones, and are delivered.
    FakeSocket.last.notify('6-0');
    expect(got).toEqual(['6-0']);
    FakeSocket.last.serverClose(1012);
    await flush();
    FakeSocket.last.open();
    expect(FakeSocket.last.messages).toEqual([{ type: 'resume', epoch: 'e2', offset: '6-0', filters: ['all'] }]);
  });

  it('subscribe and unsubscribe while connected; handlers of one filter share one server subscription', async () => {
    const { client } = start();
    await flush();
    const s = FakeSocket.last;
    s.open();
    const a: Notification[] = [];
    const b: Notification[] = [];
    const subA = client.subscribe('entity:thing:1', (n) => a.push(n));
    const subB = client.subscribe('entity:thing:1', (n) => b.push(n));
    s.notify('101-0');
    subA.unsubscribe();
    s.notify('102-0');
    subB.unsubscribe();
    subB.unsubscribe();
    expect(s.messages).toEqual([
      { type: 'subscribe', filter: 'entity:thing:1' },
      { type: 'unsubscribe', filter: 'entity:thing:1' },
    ]);
    expect(a.map((n) => n.offset)).toEqual(['101-0']);
    expect(b.map((n) => n.offset)).toEqual(['101-0', '102-0']);
    expect(() => client.subscribe('bogus', () => {})).toThrow(/unknown filter/);
  });

  it('where: sent in canonical form, one server subscription per predicate however written, dispatched only where it holds, resumed with it', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client } = start();
    await flush();
    const s = FakeSocket.last;
    s.open({ epoch: 'e1', offset: '100-0' });
    const failed: string[] = [];
    const failed2: string[] = [];
    const plain: string[] = [];
    const w = { status: { in: ['timeout', 'failed'] }, 'payload.rule': { eq: 'core.x' } };
    const subA = client.subscribe('entity_type:thing', { where: w }, (n) => failed.push(n.offset ?? ''));
    client.subscribe('entity_type:thing', { where: { 'payload.rule': { eq: 'core.x' }, status: { in: ['failed', 'timeout', 'failed'] } } }, (n) => failed2.push(n.offset ?? ''));
    client.subscribe('entity_type:thing', (n) => plain.push(n.offset ?? ''));
    const canonical = { 'payload.rule': { eq: 'core.x' }, status: { in: ['failed', 'timeout'] } };
    expect(s.messages).toEqual([
      { type: 'subscribe', filter: 'entity_type:thing', where: canonical },
      { type: 'subscribe', filter: 'entity_type:thing' },
    ]);
    s.notify('101-0', { payload: { status: 'failed', rule: 'core.x' } });
    s.notify('102-0', { payload: { status: 'ok', rule: 'core.x' } });
    expect(failed).toEqual(['101-0']);
    expect(failed2).toEqual(['101-0']);
    expect(plain).toEqual(['101-0', '102-0']);
    subA.unsubscribe();
    expect(s.messages).toHaveLength(2); // the other handler of that predicate still holds it
    s.serverClose(1006);
    await flush();
    FakeSocket.last.open({ epoch: 'e1', offset: '102-0' });
    expect(FakeSocket.last.messages).toEqual([
      { type: 'resume', epoch: 'e1', offset: '102-0', filters: [{ filter: 'entity_type:thing', where: canonical }, 'entity_type:thing'] },
    ]);
    expect(() => client.subscribe('all', { where: { status: { like: 'f%' } } as never }, () => {})).toThrow(TypeError);
  });

  it('one handler given for several matching subscriptions runs once per notification; a resumed event is emitted', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client } = start();
    const resumed: unknown[] = [];
    client.on('resumed', (r) => resumed.push(r));
    const got: string[] = [];
    const handler = (n: Notification) => got.push(n.offset ?? '');
    client.subscribe('all', handler);
    client.subscribe('entity_type:thing', handler);
    client.subscribe('entity_type:thing', { where: { n: { exists: false } } }, handler);
    await flush();
    FakeSocket.last.open({ epoch: 'e1', offset: '100-0' });
    FakeSocket.last.notify('101-0');
    expect(got).toEqual(['101-0']);
    FakeSocket.last.serverClose(1012);
    await flush();
    FakeSocket.last.open({ epoch: 'e1', offset: '101-0' });
    FakeSocket.last.receive({ type: 'resumed', epoch: 'e1', offset: '101-0', replayed: 0 });
    expect(resumed).toEqual([{ type: 'resumed', epoch: 'e1', offset: '101-0', replayed: 0 }]);
  });

  it('a subscribe refused for good (too_many_subscriptions, naming it) drops its handlers, so no resume carries it', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client, errors } = start();
    await flush();
    FakeSocket.last.open({ epoch: 'e1', offset: '100-0' });
    client.subscribe('all', () => {});
    client.subscribe('entity_type:x', { where: { n: { gt: 1 } } }, () => {});
    FakeSocket.last.receive({ type: 'error', code: 'too_many_subscriptions', message: 'at most 1', filter: 'entity_type:x', where: { n: { gt: 1 } } });
    expect(errors).toEqual([{ kind: 'server', code: 'too_many_subscriptions', message: 'at most 1', filter: 'entity_type:x' }]);
    FakeSocket.last.serverClose(1012);
    await flush();
    FakeSocket.last.open({ epoch: 'e1', offset: '100-0' });
    expect(FakeSocket.last.messages).toEqual([{ type: 'resume', epoch: 'e1', offset: '100-0', filters: ['all'] }]);
  });

  it('reconnect() replaces the connection at once, even during a back-off, and resumes; after close() it starts again', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    const { client, states } = start();
    client.subscribe('all', () => {});
    await flush();
    const first = FakeSocket.last;
    first.open({ epoch: 'e1', offset: '100-0' });
    first.notify('101-0');
    first.serverClose(1006); // a back-off of ~500 ms starts
    await flush();
    expect(FakeSocket.last).toBe(first);
    client.reconnect();
    await flush();
    expect(FakeSocket.last).not.toBe(first);
    FakeSocket.last.open({ epoch: 'e1', offset: '101-0' });
    expect(FakeSocket.last.messages).toEqual([{ type: 'resume', epoch: 'e1', offset: '101-0', filters: ['all'] }]);
    client.close();
    expect(states.at(-1)).toBe('disconnected');
    const closed = FakeSocket.last;
    client.reconnect();
    await flush();
    expect(FakeSocket.last).not.toBe(closed);
    expect(client.state).toBe('connecting');
  });

  it("a token() that gives nothing offers no bearer entry", async () => {
    start({ token: () => '' });
    await flush();
    expect(FakeSocket.last.protocols).toEqual(['notifier.v1']);
  });

  it('never hands a handler a notification twice or out of order', async () => {
    const { client } = start();
    const got: string[] = [];
    client.subscribe('all', (n) => got.push(n.offset ?? ''));
    await flush();
    const s = FakeSocket.last;
    s.open();
    for (const o of ['101-0', '101-0', '101-1', '100-9', '99-0', '102-0', '101-5', '1000-0', '999-9']) s.notify(o);
    expect(got).toEqual(['101-0', '101-1', '102-0', '1000-0']);
  });

  it('a forbidden filter is dropped and reported; a refused resume resumes again without it', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client, errors } = start();
    const got: string[] = [];
    client.subscribe('all', () => got.push('all'));
    client.subscribe('user:1', () => got.push('user'));
    await flush();
    FakeSocket.last.open();
    FakeSocket.last.receive({ type: 'error', code: 'forbidden', filter: 'all', message: 'the token does not allow all' });
    expect(errors).toEqual([{ kind: 'forbidden', filter: 'all', message: 'the token does not allow all' }]);
    FakeSocket.last.notify('101-0', { user_id: 1 });
    expect(got).toEqual(['user']);
    // A resume refused for a filter the (new) token lacks: dropped, and a new connection resumes without it.
    client.subscribe('entity_type:x', () => {});
    FakeSocket.last.serverClose(4004);
    await flush();
    const s2 = FakeSocket.last;
    s2.open();
    expect(s2.messages).toEqual([{ type: 'resume', epoch: 'e1', offset: '101-0', filters: ['user:1', 'entity_type:x'] }]);
    s2.receive({ type: 'error', code: 'forbidden', filter: 'entity_type:x', message: 'no' });
    expect(s2.closedWith?.code).toBe(4000);
    await flush();
    FakeSocket.last.open();
    expect(FakeSocket.last.messages).toEqual([{ type: 'resume', epoch: 'e1', offset: '101-0', filters: ['user:1'] }]);
    // A refresh that removes a filter: unsubscribed with reason forbidden.
    FakeSocket.last.receive({ type: 'unsubscribed', filter: 'user:1', reason: 'forbidden' });
    expect(errors.at(-1)).toMatchObject({ kind: 'forbidden', filter: 'user:1' });
    FakeSocket.last.notify('102-0', { user_id: 1 });
    expect(got).toEqual(['user']);
  });

  it('a resume refused for another reason: reset, then subscribe on the same connection', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client, errors } = start();
    const resets: unknown[] = [];
    client.on('reset', (r) => resets.push(r));
    client.subscribe('all', () => {});
    await flush();
    FakeSocket.last.open();
    FakeSocket.last.serverClose(1006);
    await flush();
    const s = FakeSocket.last;
    s.open();
    s.receive({ type: 'error', code: 'too_many_subscriptions', message: 'too many' });
    expect(errors).toEqual([{ kind: 'server', code: 'too_many_subscriptions', message: 'too many' }]);
    expect(resets).toEqual([{ reason: 'refused', epoch: 'e1', offset: '' }]);
    expect(s.messages).toEqual([
      { type: 'resume', epoch: 'e1', offset: '100-0', filters: ['all'] },
      { type: 'subscribe', filter: 'all' },
    ]);
    expect(s.closedWith).toBeUndefined();
    // Any error outside a resume changes nothing.
    s.receive({ type: 'error', code: 'unauthorized', reason: 'expired', message: 'refresh refused' });
    expect(errors.at(-1)).toEqual({ kind: 'server', code: 'unauthorized', message: 'refresh refused' });
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('a throwing handler is reported and does not stop the others', async () => {
    const { client, errors } = start();
    const got: string[] = [];
    client.subscribe('all', () => {
      throw new Error('boom');
    });
    client.subscribe('all', () => got.push('ok'));
    await flush();
    FakeSocket.last.open();
    FakeSocket.last.notify('101-0');
    expect(got).toEqual(['ok']);
    expect(errors).toEqual([{ kind: 'handler', error: new Error('boom') }]);
  });
});

describe('close codes', () => {
  it('stops on 4500 with state disconnected and the reason', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { states } = start();
    await flush();
    FakeSocket.last.open();
    FakeSocket.last.serverClose(4500, 'subject changed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states).toEqual(['connecting', 'connected', 'disconnected:4500']);
  });

  it.each([4001, 4002, 4003, 4004, 4499, 1000, 1006, 1012])('reconnects after %i', async (code) => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    start();
    await flush();
    FakeSocket.last.open();
    FakeSocket.last.serverClose(code);
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
  });

  it.each([1009, 4501, 4999])('stops after %i', async (code) => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { states } = start();
    await flush();
    FakeSocket.last.serverClose(code, 'why');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe(`disconnected:${code}`);
  });
});

describe('timers', () => {
  it('refreshes with a fresh token refreshBeforeMs before expires_at', async () => {
    let n = 0;
    const token = vi.fn(() => `t${++n}`);
    start({ token, refreshBeforeMs: 30_000 });
    await flush();
    const expiresAt = new Date(Date.now() + 120_000).toISOString();
    FakeSocket.last.open({ epoch: 'e1', offset: '1-0', user_id: 'u', expires_at: expiresAt });
    await vi.advanceTimersByTimeAsync(89_999);
    expect(FakeSocket.last.messages).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.last.messages).toEqual([{ type: 'refresh', token: 't2' }]);
    // The next one follows the refreshed expiry.
    FakeSocket.last.receive({ type: 'refreshed', expires_at: new Date(Date.now() + 60_000).toISOString() });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeSocket.last.messages).toEqual([
      { type: 'refresh', token: 't2' },
      { type: 'refresh', token: 't3' },
    ]);
  });

  it('a refresh whose token() fails is reported, not thrown', async () => {
    let n = 0;
    const { errors } = start({
      token: async () => {
        if (++n > 1) throw new Error('offline');
        return 't';
      },
    });
    await flush();
    FakeSocket.last.open({ expires_at: new Date(Date.now() + 120_000).toISOString() });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(errors).toEqual([{ kind: 'token', error: new Error('offline') }]);
    expect(FakeSocket.last.messages).toEqual([]);
  });

  it('half-open: pings every staleAfterMs/2, and replaces a socket that said nothing for staleAfterMs', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { errors, states } = start({ staleAfterMs: 10_000 });
    await flush();
    const s = FakeSocket.last;
    s.open();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.messages).toEqual([{ type: 'ping' }]);
    s.receive({ type: 'pong' });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(s.messages).toEqual([{ type: 'ping' }, { type: 'ping' }]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(errors).toEqual([{ kind: 'stale' }]);
    expect(s.closedWith?.code).toBe(4000);
    expect(FakeSocket.all).toHaveLength(2);
    // The dead socket's late close changes nothing.
    s.serverClose(1006);
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
    expect(states).toEqual(['connecting', 'connected', 'connecting']);
  });

  it('a socket that never opens counts as stale too', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { errors } = start({ staleAfterMs: 10_000 });
    await flush();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(errors).toEqual([{ kind: 'stale' }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.all[0]?.closedWith?.code).toBe(4000);
  });

  it('close() stops everything: no reconnect, no ping, no refresh, no token call', async () => {
    const token = vi.fn(() => 't');
    const { client, states } = start({ token, staleAfterMs: 10_000 });
    const got: unknown[] = [];
    client.subscribe('all', (n) => got.push(n));
    await flush();
    const s = FakeSocket.last;
    s.open({ expires_at: new Date(Date.now() + 120_000).toISOString() });
    client.close();
    expect(s.closedWith?.code).toBe(1000);
    s.notify('101-0');
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(vi.getTimerCount()).toBe(0);
    expect(FakeSocket.all).toHaveLength(1);
    expect(s.messages).toEqual([{ type: 'subscribe', filter: 'all' }]);
    expect(token).toHaveBeenCalledTimes(1);
    expect(got).toEqual([]);
    expect(states).toEqual(['connecting', 'connected', 'disconnected']);
  });

  it('close() during the token call opens nothing', async () => {
    let release!: (t: string) => void;
    const { client } = start({ token: () => new Promise<string>((r) => (release = r)) });
    await flush();
    client.close();
    release('t');
    await flush();
    expect(FakeSocket.all).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('on() returns an unsubscribe function', async () => {
    const { client } = start();
    const seen: string[] = [];
    const off = client.on('welcome', (w) => seen.push(w.client_id));
    await flush();
    FakeSocket.last.open();
    off();
    FakeSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.last.open();
    expect(seen).toEqual(['c1']);
  });
});

import { describe, expect, it } from 'vitest';
import { answeredProtocol, extractToken, NOTIFIER_SUBPROTOCOL } from '../../src/edge/auth/token-carriers.js';

const T = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln';

describe('extractToken', () => {
  it('finds nothing in an ordinary request', () => {
    expect(extractToken({ query: '', authorization: '', protocol: '' })).toEqual({ token: undefined, carrier: undefined, conflict: false, protocol: undefined });
    expect(extractToken({})).toEqual({ token: undefined, carrier: undefined, conflict: false, protocol: undefined });
    expect(extractToken({ protocol: 'notifier.v1' }).protocol).toBe('notifier.v1');
  });

  it('reads ?token= from the query string (with or without the ?)', () => {
    expect(extractToken({ query: `a=1&token=${T}` })).toMatchObject({ token: T, carrier: 'query', conflict: false });
    expect(extractToken({ query: `?token=${encodeURIComponent(T)}` })).toMatchObject({ token: T, carrier: 'query' });
    expect(extractToken({ query: 'token=' }).token).toBeUndefined();
  });

  it('reads Authorization: Bearer, scheme in any case', () => {
    expect(extractToken({ authorization: `Bearer ${T}` })).toMatchObject({ token: T, carrier: 'authorization' });
    expect(extractToken({ authorization: `bearer  ${T} ` })).toMatchObject({ token: T, carrier: 'authorization' });
  });

  it.each(['Basic dXNlcjpwdw==', 'Bearer', 'Bearer a b', `Token ${T}`, `Bearer${T}`])('ignores Authorization %j', (authorization) => {
    expect(extractToken({ authorization }).token).toBeUndefined();
  });

  it('reads bearer.<token> from Sec-WebSocket-Protocol and answers notifier.v1, never the token', () => {
    const r = extractToken({ protocol: `notifier.v1, bearer.${T}` });
    expect(r).toEqual({ token: T, carrier: 'protocol', conflict: false, protocol: NOTIFIER_SUBPROTOCOL });
    expect(extractToken({ protocol: `bearer.${T},notifier.v1` }).protocol).toBe('notifier.v1');
  });

  it('answers no subprotocol when notifier.v1 was not offered (the token is never echoed)', () => {
    const r = extractToken({ protocol: `bearer.${T}` });
    expect(r.token).toBe(T);
    expect(r.protocol).toBeUndefined();
    expect(extractToken({ protocol: 'chat, superchat' }).protocol).toBeUndefined();
    expect(extractToken({ protocol: 'bearer.' }).token).toBeUndefined();
  });

  it('takes the same token from several carriers', () => {
    expect(extractToken({ authorization: `Bearer ${T}`, query: `token=${T}` })).toMatchObject({ token: T, carrier: 'authorization', conflict: false });
  });

  it.each([
    [{ authorization: `Bearer ${T}`, query: 'token=other' }],
    [{ protocol: `notifier.v1, bearer.${T}`, query: 'token=other' }],
    [{ protocol: `notifier.v1, bearer.${T}, bearer.other` }],
    [{ query: `token=${T}&token=other` }],
  ])('refuses different tokens in several carriers as a conflict (%#)', (req) => {
    const r = extractToken(req);
    expect(r.conflict).toBe(true);
    expect(r.token).toBeUndefined();
  });
});

describe('answeredProtocol', () => {
  it('answers notifier.v1 when offered, else the first offered entry that is not a token, never a bearer entry', () => {
    expect(answeredProtocol('')).toBe('');
    expect(answeredProtocol(undefined)).toBe('');
    expect(answeredProtocol('bearer.abc.def.ghi, notifier.v1')).toBe('notifier.v1');
    expect(answeredProtocol('graphql-ws, notifier.v1')).toBe('notifier.v1');
    expect(answeredProtocol('graphql-ws')).toBe('graphql-ws');
    expect(answeredProtocol('Bearer.abc, chat')).toBe('chat');
    expect(answeredProtocol('bearer.abc')).toBe('');
  });
});

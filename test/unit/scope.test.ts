import { describe, expect, it } from 'vitest';
import { frameScopeKey, notificationScopeKey, tokenScopeKey } from '../../src/protocol/scope.js';

describe('tokenScopeKey', () => {
  it('is undefined for no scope, and the configured values in order otherwise', () => {
    expect(tokenScopeKey(['tenant_id'], {})).toEqual({ ok: true, key: undefined });
    expect(tokenScopeKey([], {})).toEqual({ ok: true, key: undefined });
    expect(tokenScopeKey(['tenant_id'], { tenant_id: 'acme' })).toEqual({ ok: true, key: 'acme' });
    expect(tokenScopeKey(['tenant_id'], { tenant_id: 42 })).toEqual({ ok: true, key: '42' });
    expect(tokenScopeKey(['tenant_id', 'region'], { region: 'eu', tenant_id: 'a' })).toEqual({ ok: true, key: 'a\u001feu' });
  });

  it('refuses a scope it cannot enforce exactly', () => {
    const why = (fields: string[], scope: Record<string, unknown>) => {
      const r = tokenScopeKey(fields, scope);
      return r.ok ? 'ok' : r.message;
    };
    expect(why([], { tenant_id: 'a' })).toMatch(/no NOTIFIER_SCOPE_FIELDS/);
    expect(why(['tenant_id'], { tenant: 'a' })).toMatch(/"tenant" is not one of NOTIFIER_SCOPE_FIELDS/);
    expect(why(['tenant_id', 'region'], { tenant_id: 'a' })).toMatch(/scope lacks region/);
    for (const bad of [null, true, '', { id: 1 }, ['a'], 'a\u001fb', 'x'.repeat(257), Number.NaN, Infinity]) {
      expect(why(['tenant_id'], { tenant_id: bad }), String(bad).slice(0, 10)).toMatch(/must be a non-empty string or number/);
    }
    expect(why(['tenant_id'], JSON.parse('{"__proto__": "x"}') as Record<string, unknown>)).toMatch(/not one of/);
  });
});

describe('notificationScopeKey', () => {
  it('reads the top level first, then the payload', () => {
    expect(notificationScopeKey(['tenant_id'], { tenant_id: 'a', payload: { tenant_id: 'b' } })).toBe('a');
    expect(notificationScopeKey(['tenant_id'], { payload: { tenant_id: 'b' } })).toBe('b');
    expect(notificationScopeKey(['tenant_id'], { payload: { tenant_id: 7 } })).toBe('7');
    expect(notificationScopeKey(['tenant_id', 'region'], { region: 'eu', payload: { tenant_id: 'a' } })).toBe('a\u001feu');
  });

  it('has no key when a field is missing or not a scope value', () => {
    for (const envelope of [{}, { payload: 'tenant_id' }, { payload: { nested: { tenant_id: 'a' } } }, { tenant_id: null }, { tenant_id: { a: 1 } }, { payload: ['a'] }, null, 'x', { tenant_id: 'a\nb' }]) {
      expect(notificationScopeKey(['tenant_id'], envelope), JSON.stringify(envelope)).toBeUndefined();
    }
    expect(notificationScopeKey(['tenant_id', 'region'], { tenant_id: 'a' })).toBeUndefined();
    expect(notificationScopeKey(['tenant_id'], JSON.parse('{"payload": {"__proto__": {"tenant_id": "a"}}}'))).toBeUndefined();
  });

  it('agrees with tokenScopeKey, so 42 and "42" are one tenant', () => {
    const t = tokenScopeKey(['tenant_id'], { tenant_id: '42' });
    expect(t.ok && t.key).toBe(notificationScopeKey(['tenant_id'], { payload: { tenant_id: 42 } }));
  });
});

describe('frameScopeKey', () => {
  it('reads a frame as text or bytes, and an unreadable frame has no key', () => {
    const frame = JSON.stringify({ notification_type: 'x', payload: { tenant_id: 'acme' }, offset: '1-0' });
    expect(frameScopeKey(['tenant_id'], frame)).toBe('acme');
    expect(frameScopeKey(['tenant_id'], Buffer.from(frame))).toBe('acme');
    expect(frameScopeKey(['tenant_id'], Buffer.from(`xx${frame}`).subarray(2))).toBe('acme');
    expect(frameScopeKey(['tenant_id'], '{not json')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  ALL,
  MAX_FILTER_LENGTH,
  filterKind,
  matches,
  parseFilter,
  routingKeys,
  type FilterKind,
  type RoutingFields,
} from '../../src/protocol/filters.js';

function rejectMessage(raw: unknown): string {
  const r = parseFilter(raw);
  if (r.ok) throw new Error(`expected ${JSON.stringify(raw)} to be rejected, got kind ${r.kind}`);
  return r.message;
}

describe('parseFilter: valid filters', () => {
  const valid: [string, FilterKind][] = [
    ['all', 'all'],
    ['entity_type:execution', 'entity_type'],
    ['entity:execution:123', 'entity'],
    ['user:42', 'user'],
    ['notification_type:execution_status_changed', 'notification_type'],
    // The id of an entity filter may itself contain ':' (only the type may not).
    ['entity:execution:a:b', 'entity'],
    ['user:alice@example.com', 'user'],
    ['entity_type:exécution', 'entity_type'],
    ['notification_type:a:b', 'notification_type'],
  ];
  it.each(valid)('accepts %s as kind %s and returns it unchanged', (raw, kind) => {
    expect(parseFilter(raw)).toEqual({ ok: true, filter: raw, kind });
    expect(filterKind(raw)).toBe(kind);
  });

  it('accepts a filter of exactly the maximum length', () => {
    const raw = `user:${'x'.repeat(MAX_FILTER_LENGTH - 'user:'.length)}`;
    expect(raw).toHaveLength(MAX_FILTER_LENGTH);
    expect(parseFilter(raw)).toEqual({ ok: true, filter: raw, kind: 'user' });
  });
});

describe('parseFilter: invalid filters', () => {
  it.each([42, null, undefined, {}, ['all'], true])('rejects the non-string %j', (raw) => {
    expect(rejectMessage(raw)).toBe('filter must be a string');
  });

  it('rejects the empty string', () => {
    expect(rejectMessage('')).toBe('filter must not be empty');
  });

  it('rejects a filter longer than the maximum', () => {
    const raw = `user:${'x'.repeat(MAX_FILTER_LENGTH)}`;
    expect(rejectMessage(raw)).toBe(`filter is longer than ${MAX_FILTER_LENGTH} characters`);
    expect(rejectMessage('a'.repeat(MAX_FILTER_LENGTH + 1))).toBe(`filter is longer than ${MAX_FILTER_LENGTH} characters`);
  });

  it.each(['user:1\n', 'user:\u00001', 'entity_type:a\tb', 'all\r', 'user:\u001f', 'user:\u007f'])(
    'rejects control characters in %j',
    (raw) => {
      expect(rejectMessage(raw)).toBe('filter must not contain control characters');
    },
  );

  it.each(['everything', 'ALL', 'All', 'all:x', 'entitytype:x', 'users:1', ':x', 'foo:bar', ' all'])(
    'rejects the unknown kind %j, naming the filter and the accepted kinds',
    (raw) => {
      const message = rejectMessage(raw);
      expect(message).toContain(`unknown filter "${raw}"`);
      expect(message).toContain('entity:T:ID');
      expect(message).toContain('notification_type:T');
    },
  );

  it.each(['entity_type:', 'entity_type'])('rejects %j (entity_type without a value)', (raw) => {
    expect(rejectMessage(raw)).toBe('entity_type filter needs a value, e.g. "entity_type:execution"');
  });

  it.each(['notification_type:', 'notification_type'])('rejects %j (notification_type without a value)', (raw) => {
    expect(rejectMessage(raw)).toBe('notification_type filter needs a value, e.g. "notification_type:execution"');
  });

  it('rejects an entity_type value containing ":"', () => {
    expect(rejectMessage('entity_type:execution:1')).toBe(
      'entity_type value must not contain ":" (use entity:TYPE:ID for one entity)',
    );
  });

  const entityShape = 'entity filter must be "entity:TYPE:ID", e.g. "entity:execution:123"';
  it.each(['entity:execution', 'entity::1', 'entity:execution:', 'entity:', 'entity', 'entity::'])(
    'rejects the malformed entity filter %j',
    (raw) => {
      expect(rejectMessage(raw)).toBe(entityShape);
    },
  );

  it.each(['user:', 'user'])('rejects %j (user without an id)', (raw) => {
    expect(rejectMessage(raw)).toBe('user filter needs an id, e.g. "user:42"');
  });
});

describe('routingKeys', () => {
  const base: RoutingFields = { notification_type: 'execution_status_changed', entity_type: null, entity_id: null, user_id: null };

  it('lists all four specific keys (never `all`) when every field is present', () => {
    expect(routingKeys({ ...base, entity_type: 'execution', entity_id: 123, user_id: 456 })).toEqual([
      'notification_type:execution_status_changed',
      'entity_type:execution',
      'entity:execution:123',
      'user:456',
    ]);
  });

  it('renders number and string ids the same way', () => {
    const asNumbers = routingKeys({ ...base, entity_type: 'execution', entity_id: 123, user_id: 456 });
    const asStrings = routingKeys({ ...base, entity_type: 'execution', entity_id: '123', user_id: '456' });
    expect(asNumbers).toEqual(asStrings);
  });

  it('omits the keys whose fields are null', () => {
    expect(routingKeys(base)).toEqual(['notification_type:execution_status_changed']);
    expect(routingKeys({ ...base, user_id: 7 })).toEqual(['notification_type:execution_status_changed', 'user:7']);
    expect(routingKeys({ ...base, entity_type: 'execution' })).toEqual([
      'notification_type:execution_status_changed',
      'entity_type:execution',
    ]);
  });

  it('omits the entity key when there is an id but no type', () => {
    expect(routingKeys({ ...base, entity_id: 5 })).toEqual(['notification_type:execution_status_changed']);
  });

  it('treats empty strings like null', () => {
    expect(routingKeys({ ...base, entity_type: '', entity_id: '1', user_id: '' })).toEqual([
      'notification_type:execution_status_changed',
    ]);
    expect(routingKeys({ ...base, entity_type: 'execution', entity_id: '' })).toEqual([
      'notification_type:execution_status_changed',
      'entity_type:execution',
    ]);
  });

  it('renders id 0 (a falsy number) as a key', () => {
    expect(routingKeys({ ...base, entity_type: 'execution', entity_id: 0, user_id: 0 })).toEqual([
      'notification_type:execution_status_changed',
      'entity_type:execution',
      'entity:execution:0',
      'user:0',
    ]);
  });

  it('produces keys that are themselves valid filters of the matching kind', () => {
    const keys = routingKeys({ ...base, entity_type: 'execution', entity_id: 9, user_id: 'u1' });
    for (const key of keys) {
      const parsed = parseFilter(key);
      expect(parsed.ok, key).toBe(true);
    }
  });
});

describe('matches', () => {
  const keys = routingKeys({
    notification_type: 'execution_status_changed',
    entity_type: 'execution',
    entity_id: 123,
    user_id: 456,
  });

  it('`all` matches every notification, even one with no specific keys', () => {
    expect(matches(new Set([ALL]), keys)).toBe(true);
    expect(matches(new Set([ALL]), [])).toBe(true);
  });

  it.each([
    'notification_type:execution_status_changed',
    'entity_type:execution',
    'entity:execution:123',
    'user:456',
  ])('matches on %s', (filter) => {
    expect(matches(new Set([filter]), keys)).toBe(true);
    expect(matches(new Set(['user:other', filter]), keys)).toBe(true);
  });

  it.each([
    'notification_type:execution_created',
    'entity_type:inquiry',
    'entity:execution:124',
    'entity:inquiry:123',
    'user:45',
  ])('does not match on %s', (filter) => {
    expect(matches(new Set([filter]), keys)).toBe(false);
  });

  it('an empty filter set matches nothing', () => {
    expect(matches(new Set(), keys)).toBe(false);
  });

  it('a string-id filter matches a numeric id and vice versa', () => {
    const numeric = routingKeys({ notification_type: 't', entity_type: 'e', entity_id: 1, user_id: null });
    const textual = routingKeys({ notification_type: 't', entity_type: 'e', entity_id: '1', user_id: null });
    expect(matches(new Set(['entity:e:1']), numeric)).toBe(true);
    expect(matches(new Set(['entity:e:1']), textual)).toBe(true);
  });
});

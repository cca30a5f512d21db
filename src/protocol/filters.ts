/**
 * Subscription filters of the wire protocol, and the routing keys a notification carries.
 *
 * A filter is one of: `all`, `entity_type:T`, `entity:T:ID`, `user:ID`, `notification_type:T`.
 * A notification maps to at most five routing keys (`all` plus up to four specific ones); a
 * connection matches when any of its filters equals one of those keys. Matching is therefore a
 * set intersection of exact strings — no parsing on the hot path.
 */

export const ALL = 'all';
export const MAX_FILTER_LENGTH = 256;
/** `all` with a predicate, as a subscription id begins (subscription.ts). */
const ALL_WITH_WHERE = 'all\u001f';

export type FilterKind = 'all' | 'entity_type' | 'entity' | 'user' | 'notification_type';

export type FilterParseResult =
  | { ok: true; filter: string; kind: FilterKind }
  | { ok: false; message: string };

// Control characters would make logs and the stats page ambiguous; nothing legitimate uses them.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Validates a filter string from a client. Returns it unchanged when valid (filters are exact strings). */
export function parseFilter(raw: unknown): FilterParseResult {
  if (typeof raw !== 'string') return { ok: false, message: 'filter must be a string' };
  if (raw.length === 0) return { ok: false, message: 'filter must not be empty' };
  if (raw.length > MAX_FILTER_LENGTH) {
    return { ok: false, message: `filter is longer than ${MAX_FILTER_LENGTH} characters` };
  }
  if (CONTROL_CHARS.test(raw)) return { ok: false, message: 'filter must not contain control characters' };
  if (raw === ALL) return { ok: true, filter: raw, kind: 'all' };

  const colon = raw.indexOf(':');
  const kind = colon < 0 ? raw : raw.slice(0, colon);
  const rest = colon < 0 ? '' : raw.slice(colon + 1);
  switch (kind) {
    case 'entity_type':
    case 'notification_type':
      if (rest === '') return { ok: false, message: `${kind} filter needs a value, e.g. "${kind}:execution"` };
      if (kind === 'entity_type' && rest.includes(':')) {
        return { ok: false, message: 'entity_type value must not contain ":" (use entity:TYPE:ID for one entity)' };
      }
      return { ok: true, filter: raw, kind };
    case 'user':
      if (rest === '') return { ok: false, message: 'user filter needs an id, e.g. "user:42"' };
      return { ok: true, filter: raw, kind };
    case 'entity': {
      const sep = rest.indexOf(':');
      if (sep <= 0 || sep === rest.length - 1) {
        return { ok: false, message: 'entity filter must be "entity:TYPE:ID", e.g. "entity:execution:123"' };
      }
      return { ok: true, filter: raw, kind };
    }
    default:
      return {
        ok: false,
        message: `unknown filter "${raw}": expected all, entity_type:T, entity:T:ID, user:ID or notification_type:T`,
      };
  }
}

export interface RoutingFields {
  notification_type: string;
  entity_type: string | null;
  entity_id: string | number | null;
  user_id: string | number | null;
}

/**
 * The filter keys a notification matches, besides `all` (which every notification matches and
 * which is therefore never listed). Ids are rendered with String(), so `entity:execution:123`
 * matches both `"entity_id": 123` and `"entity_id": "123"`.
 */
export function routingKeys(n: RoutingFields): string[] {
  const keys = [`notification_type:${n.notification_type}`];
  if (n.entity_type !== null && n.entity_type !== '') {
    keys.push(`entity_type:${n.entity_type}`);
    if (n.entity_id !== null && n.entity_id !== '') keys.push(`entity:${n.entity_type}:${String(n.entity_id)}`);
  }
  if (n.user_id !== null && n.user_id !== '') keys.push(`user:${String(n.user_id)}`);
  return keys;
}

/** Reference matcher (the edge routes live notifications through an index; tests check both agree). */
export function matches(filters: ReadonlySet<string> | readonly string[], keys: readonly string[]): boolean {
  const has = Array.isArray(filters) ? (k: string) => filters.includes(k) : (k: string) => (filters as ReadonlySet<string>).has(k);
  return has(ALL) || keys.some(has);
}

/** The kind of a filter, or of a subscription id (subscription.ts: a filter and its predicate). */
export function filterKind(filter: string): FilterKind {
  if (filter === ALL || filter.startsWith(ALL_WITH_WHERE)) return 'all';
  return filter.slice(0, filter.indexOf(':')) as FilterKind;
}

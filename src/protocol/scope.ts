/**
 * Tenant scopes (issue 14 §4): a token whose permissions claim holds `"scope": {"tenant_id":
 * "acme"}` receives only notifications whose `tenant_id` is "acme", whatever its filters.
 * The configured scope fields (NOTIFIER_SCOPE_FIELDS) are looked up in the notification's
 * envelope, top level first, then in its `payload`.
 *
 * Both sides reduce to a scope key: the values of every configured field, in configured order,
 * joined by U+001F. A string value is itself; a finite number is its decimal text (so a token's
 * "42" equals a payload's 42); anything else (absent, null, boolean, object) is no value. A
 * notification lacking any field has no key and goes to no scoped connection; a token must give
 * every field (a partial scope would widen what it sees as fields are added).
 *
 * Keys never contain control characters (a value with one is refused), so the edge may use a
 * key inside routing topic names.
 *
 * Imports: nothing (pure).
 */

const UNIT_SEPARATOR = '\u001f';
export const MAX_SCOPE_VALUE_LENGTH = 256;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** A scope value as text, or undefined when it cannot be one. */
function valueText(v: unknown): string | undefined {
  let text: string;
  if (typeof v === 'string') text = v;
  else if (typeof v === 'number' && Number.isFinite(v)) text = String(v);
  else return undefined;
  if (text === '' || text.length > MAX_SCOPE_VALUE_LENGTH || CONTROL_CHARS.test(text)) return undefined;
  return text;
}

export type TokenScopeResult =
  /** key undefined: the token has no scope. */
  | { ok: true; key: string | undefined }
  | { ok: false; message: string };

/**
 * The scope key of a token's `scope` claim (an object; {} is no scope). Fails on a field that is
 * not configured, a configured field missing from a non-empty scope, or a value that is not a
 * non-empty string or number without control characters.
 */
export function tokenScopeKey(fields: readonly string[], scope: Readonly<Record<string, unknown>>): TokenScopeResult {
  const given = Object.keys(scope);
  if (given.length === 0) return { ok: true, key: undefined };
  if (fields.length === 0) return { ok: false, message: 'the token has a scope but this edge has no NOTIFIER_SCOPE_FIELDS: it cannot enforce it' };
  const unknown = given.filter((f) => !fields.includes(f));
  if (unknown.length > 0) return { ok: false, message: `scope field ${JSON.stringify(unknown[0]).slice(0, 80)} is not one of NOTIFIER_SCOPE_FIELDS` };
  const values: string[] = [];
  for (const field of fields) {
    if (!Object.hasOwn(scope, field)) return { ok: false, message: `scope lacks ${field}: a scoped token gives every scope field` };
    const text = valueText(scope[field]);
    if (text === undefined) {
      return { ok: false, message: `scope ${field} must be a non-empty string or number of at most ${MAX_SCOPE_VALUE_LENGTH} characters, without control characters` };
    }
    values.push(text);
  }
  return { ok: true, key: values.join(UNIT_SEPARATOR) };
}

/**
 * The scope key of a notification (its envelope, as parsed JSON), or undefined when any field
 * is missing or not a scope value.
 */
export function notificationScopeKey(fields: readonly string[], envelope: unknown): string | undefined {
  if (typeof envelope !== 'object' || envelope === null) return undefined;
  const top = envelope as Record<string, unknown>;
  const payload = top['payload'];
  const inner = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
  const values: string[] = [];
  for (const field of fields) {
    const raw = Object.hasOwn(top, field) ? top[field] : inner !== undefined && Object.hasOwn(inner, field) ? inner[field] : undefined;
    const text = valueText(raw);
    if (text === undefined) return undefined;
    values.push(text);
  }
  return values.join(UNIT_SEPARATOR);
}

/** The scope key of a client frame (UTF-8 JSON text of a notification); undefined if it has none or is unreadable. */
export function frameScopeKey(fields: readonly string[], frame: string | Uint8Array): string | undefined {
  let envelope: unknown;
  try {
    envelope = JSON.parse(typeof frame === 'string' ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  return notificationScopeKey(fields, envelope);
}

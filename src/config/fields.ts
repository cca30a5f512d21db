/**
 * The kinds of value settings take, as zod schemas: numbers and booleans from strings, lists from
 * comma-separated strings, URLs, channel names, JWT keys and algorithms, roles, origins, CIDRs and
 * host names. Each message says what is expected; none quotes a secret. schema.ts puts them
 * together, one per setting.
 *
 * Imports: zod, config/, protocol/ and util/ only.
 */
import { z } from 'zod';
import { compileRoles } from '../protocol/permissions.js';
import { parseCidr } from '../util/cidr.js';
import { inspectPublicKey, isJwtAlgorithm, JWT_ALGORITHMS, MIN_SECRET_BYTES, REGISTERED_CLAIMS } from './jwt-settings.js';

/** An environment variable's comma-separated list as an array (trimmed, empty entries dropped); YAML lists pass as they are. */
const commaSeparated = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v);

// Strings (env, YAML) are converted with Number(); anything else must already be a number. Not
// z.coerce: it reads an empty or blank string, null and false as 0 (PORT= would bind a random port).
const fromString = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v);
export const int = (min: number, max: number) => z.preprocess(fromString, z.number().int().min(min).max(max));
export const decimal = (min: number, max: number) => z.preprocess(fromString, z.number().min(min).max(max));

export const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  return v;
}, z.boolean({ error: 'expected true/false (or 1/0, yes/no, on/off)' }));

/** A PostgreSQL identifier as LISTEN accepts it (we quote it, so any printable name ≤ 63 bytes works). */
const channelName = z
  .string()
  .min(1, 'channel name must not be empty')
  .refine((s) => Buffer.byteLength(s) <= 63, 'channel name is longer than 63 bytes (PostgreSQL truncates it)')
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'channel name must not contain control characters');

export const channelList = z.preprocess(commaSeparated, z.array(channelName).max(1000));

const url = (protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** An optional setting: an empty value (`VAR=`) or YAML null counts as unset. */
export const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional());

export const optionalUrl = (protocols: string[]) => unsetIfEmpty(url(protocols));

// JWT settings (issue 14). Messages never quote a secret; load-config masks the values too.
export const jwtSecret = z
  .string()
  .refine((s) => Buffer.byteLength(s) >= MIN_SECRET_BYTES, `must be at least ${MIN_SECRET_BYTES} bytes (HS256 needs a key as long as its hash)`);

/** PEM text; an environment variable may carry it on one line with literal `\n` separators. */
export const jwtPublicKey = z.preprocess(
  (v) => (typeof v === 'string' && !v.includes('\n') ? v.replaceAll('\\n', '\n') : v),
  z.string().superRefine((pem, ctx) => {
    const key = inspectPublicKey(pem);
    if (!key.ok) ctx.addIssue({ code: 'custom', message: key.message });
  }),
);

const jwtAlgorithm = z
  .string()
  .refine((s) => s.toLowerCase() !== 'none', 'alg "none" (unsigned tokens) is never accepted')
  .refine((s) => s.toLowerCase() === 'none' || isJwtAlgorithm(s), `expected one of ${JWT_ALGORITHMS.join(', ')}`);

export const jwtAlgorithmList = z.preprocess(commaSeparated, z.array(jwtAlgorithm).min(1, 'expected at least one algorithm'));

export const jwtClaimName = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !REGISTERED_CLAIMS.includes(s), `must not be a registered claim (${REGISTERED_CLAIMS.join(', ')})`);

/** A comma-separated list (environment) or a YAML list. */
export const list = <T extends z.ZodType>(item: T, max = 1000) => z.preprocess(commaSeparated, z.array(item).max(max));

/** `authRoles`: role → permissions (protocol/permissions.ts checks each); NOTIFIER_AUTH_ROLES carries it as JSON. */
export const authRoles = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  },
  z
    .record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'role names are 1–64 characters of A–Z a–z 0–9 _ . : -'), z.array(z.string()).max(1000), {
      error: 'expected a map of role names to lists of permissions, e.g. {"operator": ["all"], "viewer": ["entity_type:*"]} (JSON in NOTIFIER_AUTH_ROLES)',
    })
    .superRefine((roles, ctx) => {
      const compiled = compileRoles(roles);
      if (!compiled.ok) for (const message of compiled.errors) ctx.addIssue({ code: 'custom', message });
    }),
);

/** A field of a notification that scopes it (tenant_id): looked up at the envelope's top level, then in its payload. */
export const scopeField = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a field name: a letter or _, then letters, digits or _ (at most 64)');

/** An exact origin (scheme://host[:port], as browsers send it) or `*`. */
export const origin = z.string().refine((s) => {
  if (s === '*') return true;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s;
  } catch {
    return false;
  }
}, 'expected an exact origin such as https://app.example.com (scheme, host and port if not the default; no path, no trailing slash) or *');

/** An IPv4 or IPv6 address or CIDR block (10.0.0.0/8, ::1, fd00::/8). */
export const cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'expected an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8');

/** A host name as a Host header carries it, without the port (localhost, 127.0.0.1, [::1], notifier.example.com). */
export const hostName = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})$/, 'expected a host name without a port, e.g. localhost, 127.0.0.1, [::1] or notifier.example.com');

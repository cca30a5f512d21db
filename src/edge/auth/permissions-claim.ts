/**
 * The permissions claim of a token (NOTIFIER_JWT_CLAIM, default `notifier`):
 *
 *   { "filters": ["entity_type:execution", …], "roles": ["ops", …], "scope": { … } }
 *
 * Every field is optional (an absent claim means no extra permissions: a user may still
 * subscribe to `user:<own sub>`, DESIGN §5); unknown fields are ignored so issuers can add
 * their own; a field of the wrong type makes the whole token invalid, never half-read. What
 * the filters, roles and scope allow is the session's permission check (next step of issue 14);
 * this module only guarantees their shape.
 *
 * Imports: zod only.
 */
import { z } from 'zod';

/** Bounds keep a hostile token from making the edge hold large arrays per connection. */
export const MAX_CLAIM_ENTRIES = 1000;
const MAX_ENTRY_LENGTH = 256;

const entry = z.string().min(1).max(MAX_ENTRY_LENGTH);

const permissionsSchema = z.object({
  filters: z.array(entry).max(MAX_CLAIM_ENTRIES).default([]),
  roles: z.array(entry).max(MAX_CLAIM_ENTRIES).default([]),
  scope: z.record(z.string(), z.unknown()).default({}),
});

export interface Permissions {
  readonly filters: readonly string[];
  readonly roles: readonly string[];
  readonly scope: Readonly<Record<string, unknown>>;
}

export const NO_PERMISSIONS: Permissions = Object.freeze({ filters: Object.freeze([]), roles: Object.freeze([]), scope: Object.freeze({}) });

/** The typed permissions, or undefined when the claim has the wrong shape. */
export function parsePermissions(claim: unknown): Permissions | undefined {
  if (claim === undefined) return NO_PERMISSIONS;
  const r = permissionsSchema.safeParse(claim);
  if (!r.success) return undefined;
  return Object.freeze({ filters: Object.freeze(r.data.filters), roles: Object.freeze(r.data.roles), scope: Object.freeze(r.data.scope) });
}

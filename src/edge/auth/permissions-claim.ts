/**
 * The permissions claim of a token (NOTIFIER_JWT_CLAIM, default `notifier`):
 *
 *   { "filters": ["entity_type:execution", …], "roles": ["ops", …], "scope": { … } }
 *
 * Every field is optional (an absent claim means no extra permissions: a user may still
 * subscribe to `user:<own sub>`, DESIGN §5); unknown fields are ignored so issuers can add
 * their own; a field of the wrong type makes the whole token invalid, never half-read. What
 * the filters and roles allow is protocol/permissions.ts's, what the scope allows scope.ts's; this
 * module only guarantees their shape.
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

/** The claim, typed: what protocol/permissions.ts compiles (filters, roles) and scope.ts reads (scope). */
export interface TokenClaim {
  readonly filters: readonly string[];
  readonly roles: readonly string[];
  readonly scope: Readonly<Record<string, unknown>>;
}

export const NO_CLAIM: TokenClaim = Object.freeze({ filters: Object.freeze([]), roles: Object.freeze([]), scope: Object.freeze({}) });

/** The typed permissions, or undefined when the claim has the wrong shape. */
export function parseClaim(claim: unknown): TokenClaim | undefined {
  if (claim === undefined) return NO_CLAIM;
  const r = permissionsSchema.safeParse(claim);
  if (!r.success) return undefined;
  return Object.freeze({ filters: Object.freeze(r.data.filters), roles: Object.freeze(r.data.roles), scope: Object.freeze(r.data.scope) });
}

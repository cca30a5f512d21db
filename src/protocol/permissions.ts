/**
 * Permissions from a token's claims (issue 14 §3): which filters a connection may subscribe to.
 * Pure, shared by every transport (WebSocket sessions, SSE) and by config validation of roles.
 *
 * A permission is one of:
 * - a filter (`all`, `entity_type:execution`, `user:42`…, as filters.ts parses them): that filter;
 * - a pattern, a prefix ending in `:*` (`entity_type:*`, `entity:execution:*`,
 *   `notification_type:*`, `user:*`): every filter starting with the prefix, colon included, so
 *   `entity:execution:*` allows `entity:execution:1` and not `entity:executionX:1`;
 * - `unscoped` (issue 14 §4): the token may go without a scope where scopes are configured. It
 *   allows no filter.
 *
 * `all` allows every filter (whoever may receive everything may receive any part of it); no
 * pattern allows `all`. No other implication is derived: `entity_type:execution` does not allow
 * `entity:execution:1`, because an entity type may itself contain ":" (routing key
 * `entity:a:b:c` is type "a", id "b:c" as well as type "a:b", id "c"); grant `entity:execution:*`.
 * A "*" anywhere else is refused, so that no operator reads `entity:*:1` as a wildcard.
 *
 * The subject always has `user:<sub>` (allowsFor). A token's claim is `{"filters": [...],
 * "roles": [...]}` (its `scope` is scope.ts's); each role names a list of permissions in the
 * configuration (`authRoles`), compiled once by compileRoles.
 *
 * `allows(filter)` runs for every subscribe and resume: a Set lookup, then one startsWith per
 * distinct prefix (a handful). It expects a filter parseFilter accepted.
 *
 * Imports: protocol/ only (pure, no I/O).
 */
import { ALL, MAX_FILTER_LENGTH, parseFilter } from './filters.js';

export const UNSCOPED = 'unscoped';
const WILDCARD = '*';

export type Permission =
  | { kind: 'filter'; filter: string }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'unscoped' };

export type PermissionParseResult = { ok: true; permission: Permission } | { ok: false; message: string };

/** Validates one permission (from a token's `filters` or a role of the configuration). */
export function parsePermission(raw: unknown): PermissionParseResult {
  if (typeof raw !== 'string') return { ok: false, message: 'permission must be a string' };
  if (raw === UNSCOPED) return { ok: true, permission: { kind: 'unscoped' } };
  const star = raw.indexOf(WILDCARD);
  if (star < 0) {
    const parsed = parseFilter(raw);
    return parsed.ok ? { ok: true, permission: { kind: 'filter', filter: parsed.filter } } : { ok: false, message: parsed.message };
  }
  const shown = JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw);
  if (star !== raw.length - 1 || raw[star - 1] !== ':') {
    return { ok: false, message: `permission ${shown}: "*" may only end a pattern, right after ":" (as in entity_type:* or entity:execution:*)` };
  }
  if (raw.length > MAX_FILTER_LENGTH) return { ok: false, message: `permission is longer than ${MAX_FILTER_LENGTH} characters` };
  const prefix = raw.slice(0, -1);
  const kind = prefix.slice(0, prefix.indexOf(':'));
  if (kind === ALL) return { ok: false, message: `permission ${shown}: "all" takes no value; grant "all" itself` };
  if (kind === 'entity_type' && prefix !== 'entity_type:') {
    return { ok: false, message: `permission ${shown}: entity types contain no ":", so the only entity_type pattern is entity_type:*` };
  }
  // The prefix must begin some valid filter: `entity:` (any entity) or else prefix + one character.
  if (prefix !== 'entity:') {
    const completed = parseFilter(`${prefix}x`);
    if (!completed.ok) {
      const why = completed.message.startsWith('unknown filter')
        ? 'expected all, entity_type:*, entity:*, entity:TYPE:*, user:*, notification_type:* or a filter'
        : completed.message;
      return { ok: false, message: `permission ${shown} matches no valid filter: ${why}` };
    }
  }
  return { ok: true, permission: { kind: 'prefix', prefix } };
}

/** What a token may do, compiled once per token. */
export interface Permissions {
  /** True when the filter (one parseFilter accepted) may be subscribed to. */
  allows(filter: string): boolean;
  /** The token may go without a scope (issue 14 §4). */
  readonly unscoped: boolean;
}

class CompiledPermissions implements Permissions {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];
  private any = false;
  unscoped = false;

  add(p: Permission): void {
    if (p.kind === 'unscoped') this.unscoped = true;
    else if (p.kind === 'prefix') {
      if (!this.prefixes.includes(p.prefix)) this.prefixes.push(p.prefix);
    } else if (p.filter === ALL) this.any = true;
    else this.exact.add(p.filter);
  }

  allows(filter: string): boolean {
    if (this.any || this.exact.has(filter)) return true;
    for (const prefix of this.prefixes) if (filter.startsWith(prefix)) return true;
    return false;
  }
}

/** Role name → its permissions, from the configuration's `authRoles`. */
export type RoleTable = ReadonlyMap<string, readonly Permission[]>;

export type RolesResult = { ok: true; roles: RoleTable } | { ok: false; errors: string[] };

/**
 * Compiles `authRoles` (`{operator: ["all"], viewer: ["entity_type:*"]}`) once, at start. Fails
 * listing every bad entry as `authRoles.<role>[<i>]: <why>`.
 */
export function compileRoles(authRoles: unknown): RolesResult {
  if (typeof authRoles !== 'object' || authRoles === null || Array.isArray(authRoles)) {
    return { ok: false, errors: ['authRoles must map role names to lists of permissions'] };
  }
  const roles = new Map<string, Permission[]>();
  const errors: string[] = [];
  for (const [name, list] of Object.entries(authRoles)) {
    if (!Array.isArray(list)) {
      errors.push(`authRoles.${name}: must be a list of permissions, e.g. ["entity_type:*"]`);
      continue;
    }
    const permissions: Permission[] = [];
    for (const [i, raw] of (list as unknown[]).entries()) {
      const parsed = parsePermission(raw);
      if (parsed.ok) permissions.push(parsed.permission);
      else errors.push(`authRoles.${name}[${i}]: ${parsed.message}`);
    }
    roles.set(name, permissions);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, roles };
}

/** The permissions claim's grants, its shape already checked (edge/auth/permissions-claim.ts). */
export interface PermissionsClaim {
  readonly filters: readonly string[];
  readonly roles: readonly string[];
}

export type PermissionsResult =
  | {
      ok: true;
      permissions: Permissions;
      /** Roles the token names that the configuration lacks: they grant nothing (worth a log line). */
      unknownRoles: string[];
    }
  | { ok: false; errors: string[] };

/**
 * What a claim grants: its `filters` and the permissions of its `roles`. The subject's own
 * `user:<sub>` is not part of it (see `allowsFor`), so one compiled set serves every token with
 * the same claim. A bad pattern fails, listing every problem; an unknown role grants nothing and
 * is reported.
 */
export function compilePermissions(claim: PermissionsClaim, roles: RoleTable): PermissionsResult {
  const compiled = new CompiledPermissions();
  const errors: string[] = [];
  const unknownRoles: string[] = [];
  claim.filters.forEach((raw, i) => {
    const parsed = parsePermission(raw);
    if (parsed.ok) compiled.add(parsed.permission);
    else errors.push(`claim filters[${i}]: ${parsed.message}`);
  });
  for (const name of claim.roles) {
    const permissions = roles.get(name);
    if (permissions === undefined) unknownRoles.push(name);
    else for (const p of permissions) compiled.add(p);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, permissions: compiled, unknownRoles };
}

/** Whether `sub`, holding `permissions`, may subscribe to `filter`: its own `user:<sub>` always. */
export function allowsFor(sub: string, permissions: Permissions, filter: string): boolean {
  return permissions.allows(filter) || (filter.length === sub.length + 5 && filter.startsWith('user:') && filter.endsWith(sub));
}

/** Permissions that allow every filter and may go unscoped: anonymous connections under NOTIFIER_AUTH=none. */
export const ALLOW_ALL: Permissions = Object.freeze({ allows: () => true, unscoped: true });

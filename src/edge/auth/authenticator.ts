/**
 * From a token to a peer (transport.ts): verifies it (token-verifier.ts), compiles what its claim
 * allows (protocol/permissions.ts, with the configured roles) and reduces its scope
 * (protocol/scope.ts). Used by the upgrade (ws-transport.ts) and by a token refresh (session.ts).
 *
 * Failures are the verifier's three reasons: `missing`, `invalid` (also a bad permission pattern,
 * a malformed scope, or no scope where NOTIFIER_SCOPE_FIELDS requires one without `unscoped`) and
 * `expired`; `detail` says which, for logs and metrics, never quoting the token.
 *
 * Compiled permissions are shared by every token with the same claim (most users hold one of a
 * few roles), so a connection costs a Peer and its strings, not its own permission sets.
 *
 * Imports: protocol, the transport contract (types), and auth/.
 */
import { compilePermissions, type Permissions, type RoleTable } from '../../protocol/permissions.js';
import { tokenScopeKey } from '../../protocol/scope.js';
import type { Peer } from '../transport.js';
import type { TokenClaim } from './permissions-claim.js';
import type { TokenVerifier, VerifyFailure } from './token-verifier.js';

/** Distinct claims whose compiled permissions are kept (then the cache starts over). */
const MAX_CACHED_CLAIMS = 10_000;

export type AuthResult = { ok: true; peer: Peer } | { ok: false; reason: VerifyFailure; detail: string };

export interface AuthenticatorOptions {
  verifier: TokenVerifier;
  roles: RoleTable;
  scopeFields: readonly string[];
  /** A role a token names that the configuration lacks: it grants nothing (logged once per name). */
  onUnknownRole?: (role: string) => void;
}

export class Authenticator {
  private readonly compiled = new Map<string, Permissions | string>();
  private readonly reportedRoles = new Set<string>();

  constructor(private readonly opts: AuthenticatorOptions) {}

  /** Never rejects. `ip` is carried into the peer. */
  async authenticate(token: string | undefined, ip: string): Promise<AuthResult> {
    const verified = await this.opts.verifier.verify(token);
    if (!verified.ok) return verified;
    const permissions = this.permissionsOf(verified.claim);
    if (typeof permissions === 'string') return { ok: false, reason: 'invalid', detail: permissions };
    const scope = tokenScopeKey(this.opts.scopeFields, verified.claim.scope);
    if (!scope.ok) return { ok: false, reason: 'invalid', detail: 'scope' };
    if (scope.key === undefined && this.opts.scopeFields.length > 0 && !permissions.unscoped) {
      return { ok: false, reason: 'invalid', detail: 'no-scope' };
    }
    return { ok: true, peer: { ip, sub: verified.sub, exp: Math.floor(verified.expiresAt / 1000), permissions, scope: scope.key } };
  }

  /** The claim's compiled permissions, or the failure detail (`claim-permission`). */
  private permissionsOf(claim: TokenClaim): Permissions | string {
    const key = JSON.stringify([claim.filters, claim.roles]);
    const known = this.compiled.get(key);
    if (known !== undefined) return known;
    const result = compilePermissions(claim, this.opts.roles);
    const value = result.ok ? result.permissions : 'claim-permission';
    if (result.ok) for (const role of result.unknownRoles) this.reportRole(role);
    if (this.compiled.size >= MAX_CACHED_CLAIMS) this.compiled.clear();
    this.compiled.set(key, value);
    return value;
  }

  private reportRole(role: string): void {
    if (this.reportedRoles.has(role) || this.reportedRoles.size >= 1000) return;
    this.reportedRoles.add(role);
    this.opts.onUnknownRole?.(role);
  }
}

/**
 * The edge's authenticator from its configuration (NOTIFIER_AUTH=jwt): the token verifier with
 * its key source, the compiled `authRoles` and the scope fields. With a JWKS URL the keys are
 * fetched once now; a key server that is down at start is logged, not fatal (tokens are refused
 * as invalid until its keys arrive, and readiness does not wait for it).
 *
 * Imports: config, observability types, protocol and auth/.
 */
import { jwtSettings } from '../../config/jwt-settings.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import { compileRoles } from '../../protocol/permissions.js';
import { Authenticator } from './authenticator.js';
import { createTokenVerifier } from './token-verifier.js';

/** undefined unless NOTIFIER_AUTH=jwt. */
export async function createEdgeAuthenticator(config: Config, logger: Logger): Promise<Authenticator | undefined> {
  const settings = jwtSettings(config);
  if (settings === undefined) return undefined;
  const roles = compileRoles(config.authRoles);
  if (!roles.ok) throw new Error(`authRoles: ${roles.errors.join('; ')}`); // the schema checked them
  const verifier = await createTokenVerifier(settings);
  if (settings.keySource.kind === 'jwks' && !(await verifier.prefetch())) {
    logger.warn(
      { event: 'edge:auth:jwks-unavailable', url: settings.keySource.url },
      'cannot fetch the JWKS now: tokens are refused as invalid until its keys arrive (retried on each unknown key)',
    );
  }
  logger.info(
    {
      event: 'edge:auth:jwt',
      keySource: settings.keySource.kind,
      algorithms: settings.algorithms,
      issuer: settings.issuer,
      audience: settings.audience,
      claim: settings.claim,
      roles: [...roles.roles.keys()],
      scopeFields: config.scopeFields,
    },
    `clients authenticate with JWTs (${settings.algorithms.join(', ')} from ${settings.keySource.kind})`,
  );
  return new Authenticator({
    verifier,
    roles: roles.roles,
    scopeFields: config.scopeFields,
    onUnknownRole: (role) =>
      logger.warn({ event: 'edge:auth:unknown-role', role: role.slice(0, 64) }, 'a token names a role that authRoles does not define: it grants nothing'),
  });
}

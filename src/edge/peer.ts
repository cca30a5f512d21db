/**
 * Peers (transport.ts): what a connection's client is allowed, read by the session and
 * subscriptions. Anonymous ones (NOTIFIER_AUTH=none) may do anything, as before authentication.
 *
 * May import protocol and the transport contract.
 */
import { ALLOW_ALL, allowsFor } from '../protocol/permissions.js';
import type { Peer } from './transport.js';

/** NOTIFIER_AUTH=none, no address tracked: shared by every such connection. */
export const ANONYMOUS: Peer = Object.freeze({ ip: '', sub: undefined, exp: Infinity, permissions: ALLOW_ALL, scope: undefined });

/** An anonymous client whose address is tracked (per-IP limits). */
export function anonymousFrom(ip: string): Peer {
  return ip === '' ? ANONYMOUS : { ...ANONYMOUS, ip };
}

/** Whether the peer may subscribe to `filter` (one parseFilter accepted). */
export function peerAllows(peer: Peer, filter: string): boolean {
  return peer.sub === undefined ? peer.permissions.allows(filter) : allowsFor(peer.sub, peer.permissions, filter);
}

/**
 * Admission: whether a new connection may open, decided before the WebSocket upgrade (and, with
 * SSE, before its stream starts), so a refused client gets a plain HTTP answer and never a socket.
 *
 * `arrive` runs first, synchronously, on what the request says (its headers and address, read
 * before any await): its Origin (403), its address's upgrade rate (429), then `decide`: a
 * draining edge, an edge that does not yet know its position on the bus (it could not serve a
 * resume exactly), an edge at its connection limit (503), an address at its limit (429). The
 * token is verified next (ws-transport.ts, auth/authenticator.ts); `decideUser` then runs on the
 * verified peer, and `decide` runs again, since time passed while the token was checked.
 * `opened` and `closed` count each open connection of a peer (per address, per token subject).
 * Every refusal is counted in notifier_connections_rejected_total{reason}.
 *
 * May import config and observability types, browser-checks, peer-limits and the transport contract.
 */
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import { originAllowed } from './browser-checks.js';
import { OpenCounts, RateBuckets } from './peer-limits.js';
import type { Peer } from './transport.js';

/** A refused connection: the HTTP status and JSON body it is answered with. */
export interface Refusal {
  status: string;
  error: string;
  /** 401: missing, invalid or expired; 429: the limit (per_ip, per_user, upgrade_rate). */
  reason?: string;
}

/** What admission reads of an upgrade request, all of it taken before any await. */
export interface UpgradeRequest {
  /** The client's address: the socket's, or as a trusted proxy gave it (client-address.ts). */
  ip: string;
  /** The `origin` header ('' when absent). */
  origin: string;
  /** The `host` header ('' when absent). */
  host: string;
}

/** The edge's state that admission reads. */
export interface AdmissionState {
  draining(): boolean;
  /** False until the edge knows its position in the bus history. */
  positionKnown(): boolean;
  /** Open connections, every transport together. */
  connections(): number;
}

const UNAVAILABLE = '503 Service Unavailable';
const FORBIDDEN = '403 Forbidden';
const TOO_MANY = '429 Too Many Requests';

export type AdmissionConfig = Pick<
  Config,
  'maxConnections' | 'allowedOrigins' | 'maxConnectionsPerIp' | 'maxConnectionsPerUser' | 'maxUpgradesPerIpPerSecond'
>;

export class Admission {
  private readonly perIp = new OpenCounts();
  private readonly perUser = new OpenCounts();
  private readonly upgrades: RateBuckets | undefined;

  constructor(
    private readonly config: AdmissionConfig,
    private readonly metrics: Metrics,
    private readonly state: AdmissionState,
    now?: () => number,
  ) {
    this.upgrades = config.maxUpgradesPerIpPerSecond > 0 ? new RateBuckets(config.maxUpgradesPerIpPerSecond, now) : undefined;
  }

  /** Whether the per-IP limit or rate needs each client's address (client-address.ts). */
  static tracksAddresses(config: AdmissionConfig): boolean {
    return config.maxConnectionsPerIp > 0 || config.maxUpgradesPerIpPerSecond > 0;
  }

  /** The first decision on an upgrade, once per request: its Origin, its address's upgrade rate, then `decide`. */
  arrive(request: UpgradeRequest): Refusal | undefined {
    if (!originAllowed(request.origin, request.host, this.config.allowedOrigins)) {
      return this.refuse('origin', FORBIDDEN, 'origin not allowed: add it to NOTIFIER_ALLOWED_ORIGINS');
    }
    if (this.upgrades !== undefined && request.ip !== '' && !this.upgrades.take(request.ip)) {
      const limit = `NOTIFIER_MAX_UPGRADES_PER_IP_PER_SECOND is ${this.config.maxUpgradesPerIpPerSecond}`;
      return this.refuse('upgrade_rate', TOO_MANY, `too many upgrades from this address (${limit}); retry later`, 'upgrade_rate');
    }
    return this.decide(request);
  }

  /** undefined: admit (so far). Has no effect but counting a refusal: may run more than once per request. */
  decide(request: UpgradeRequest): Refusal | undefined {
    const { state, config } = this;
    if (state.draining()) return this.refuse('draining', UNAVAILABLE, 'edge is shutting down; reconnect to another edge');
    // Until the edge knows its position in the stream it cannot replay exactly for resume.
    if (!state.positionKnown()) return this.refuse('starting', UNAVAILABLE, 'edge is starting (not yet subscribed to the bus); retry shortly');
    if (state.connections() >= config.maxConnections) return this.refuse('max_connections', UNAVAILABLE, 'edge is at its connection limit; retry later');
    if (config.maxConnectionsPerIp > 0 && request.ip !== '' && this.perIp.get(request.ip) >= config.maxConnectionsPerIp) {
      const limit = `NOTIFIER_MAX_CONNECTIONS_PER_IP is ${config.maxConnectionsPerIp} per edge`;
      return this.refuse('per_ip', TOO_MANY, `too many connections from this address (${limit})`, 'per_ip');
    }
    return undefined;
  }

  /** After the token: limits that depend on who the client is (authenticated peers only). */
  decideUser(peer: Peer): Refusal | undefined {
    const max = this.config.maxConnectionsPerUser;
    if (max > 0 && peer.sub !== undefined && this.perUser.get(peer.sub) >= max) {
      return this.refuse('per_user', TOO_MANY, `too many connections for this user (NOTIFIER_MAX_CONNECTIONS_PER_USER is ${max} per edge)`, 'per_user');
    }
    return undefined;
  }

  /** A connection of this peer opened. */
  opened(peer: Peer): void {
    if (this.config.maxConnectionsPerIp > 0 && peer.ip !== '') this.perIp.add(peer.ip);
    if (this.config.maxConnectionsPerUser > 0 && peer.sub !== undefined) this.perUser.add(peer.sub);
  }

  /** A connection of this peer closed (same address and subject as at open: a refresh keeps both). */
  closed(peer: Peer): void {
    if (this.config.maxConnectionsPerIp > 0 && peer.ip !== '') this.perIp.remove(peer.ip);
    if (this.config.maxConnectionsPerUser > 0 && peer.sub !== undefined) this.perUser.remove(peer.sub);
  }

  /** Entries held (tests: memory follows the clients present). */
  get tracked(): { ips: number; users: number; rateBuckets: number } {
    return { ips: this.perIp.size, users: this.perUser.size, rateBuckets: this.upgrades?.size ?? 0 };
  }

  private refuse(metricReason: string, status: string, error: string, reason?: string): Refusal {
    this.metrics.rejectedConnections.inc({ reason: metricReason });
    return reason === undefined ? { status, error } : { status, error, reason };
  }
}

/**
 * Admission: whether a new connection may open, decided before the WebSocket upgrade (and, with
 * SSE, before its stream starts), so a refused client gets a plain HTTP answer and never a socket.
 *
 * `decide` runs first, synchronously, on what the request says (its headers and address, read
 * before any await): a draining edge, an edge that does not yet know its position on the bus
 * (it could not serve a resume exactly), an edge at its connection limit. The token is verified
 * next (ws-transport.ts, auth/authenticator.ts); `decideUser` then runs on the verified peer,
 * and `decide` runs again, since time passed while the token was checked.
 * `opened` and `closed` count each open connection of a peer.
 *
 * May import config and observability types and the transport contract; nothing else of the edge.
 */
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { Peer } from './transport.js';

/** A refused connection: the HTTP status and JSON body it is answered with. */
export interface Refusal {
  status: string;
  error: string;
  /** For 401: missing, invalid or expired. */
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

export class Admission {
  constructor(
    private readonly config: Pick<Config, 'maxConnections'>,
    private readonly metrics: Metrics,
    private readonly state: AdmissionState,
  ) {}

  /** undefined: admit (so far). Counts each refusal by reason. */
  decide(_request: UpgradeRequest): Refusal | undefined {
    const { state } = this;
    if (state.draining()) return this.refuse('draining', 'edge is shutting down; reconnect to another edge');
    // Until the edge knows its position in the stream it cannot replay exactly for resume.
    if (!state.positionKnown()) return this.refuse('starting', 'edge is starting (not yet subscribed to the bus); retry shortly');
    if (state.connections() >= this.config.maxConnections) return this.refuse('max_connections', 'edge is at its connection limit; retry later');
    return undefined;
  }

  /** After the token: limits that depend on who the client is. */
  decideUser(_peer: Peer): Refusal | undefined {
    return undefined;
  }

  /** A connection of this peer opened. */
  opened(_peer: Peer): void {}

  /** A connection of this peer closed (its peer as it was at open). */
  closed(_peer: Peer): void {}

  private refuse(reason: string, error: string): Refusal {
    this.metrics.rejectedConnections.inc({ reason });
    return { status: UNAVAILABLE, error };
  }
}

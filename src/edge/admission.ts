/**
 * Admission: whether a new connection may open, decided before the WebSocket upgrade (and, with
 * SSE, before its stream starts), so a refused client gets a plain HTTP answer and never a socket.
 *
 * Refused today: a draining edge, an edge that does not yet know its position on the bus (it
 * could not serve a resume exactly), and an edge at its connection limit. Where later checks go:
 * the token (verified here, from the request's headers, before the socket opens), the origin
 * allow-list and per-IP limits — each one more step of `decide`, given the request's headers and
 * remote address.
 *
 * May import config and observability types; nothing else of the edge.
 */
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';

/** A refused connection: the HTTP status and JSON body it is answered with. */
export interface Refusal {
  status: string;
  error: string;
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

  /** undefined: admit. Counts each refusal by reason. */
  decide(): Refusal | undefined {
    const { state } = this;
    if (state.draining()) return this.refuse('draining', 'edge is shutting down; reconnect to another edge');
    // Until the edge knows its position in the stream it cannot replay exactly for resume.
    if (!state.positionKnown()) return this.refuse('starting', 'edge is starting (not yet subscribed to the bus); retry shortly');
    if (state.connections() >= this.config.maxConnections) return this.refuse('max_connections', 'edge is at its connection limit; retry later');
    return undefined;
  }

  private refuse(reason: string, error: string): Refusal {
    this.metrics.rejectedConnections.inc({ reason });
    return { status: UNAVAILABLE, error };
  }
}

/**
 * The WebSocket transport: GET /ws on uWebSockets.js. Registers the route with its limits,
 * asks Admission before each upgrade, and hands every event of an open socket to the sessions;
 * `WsConnections` is the Transport (transport.ts) over uWS sockets and their registry.
 *
 * uWS settings are set on purpose (DESIGN §11): inbound frames over NOTIFIER_MAX_FRAME_BYTES are
 * dropped by uWS (the client sees 1006, not 1009); native publish silently skips a socket over
 * `maxBackpressure`, so lifecycle.ts closes slow sockets well before, and uWS closes whatever
 * outruns that sweep.
 *
 * May import config and observability types, http-reply, uws, admission, session and transport.
 */
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { Admission } from './admission.js';
import { replyJson } from './http-reply.js';
import type { Sessions } from './session.js';
import type { Connections, Frame, SessionState } from './transport.js';
import type { Uws } from './uws.js';

export type WsConn = Uws.WebSocket<SessionState>;

/**
 * uWS's own limit, as a multiple of maxBackpressureBytes. Our sweep closes slow consumers at
 * maxBackpressureBytes with code 4001; uWS closes (as 1006) only a burst that outruns the
 * sweep, at this hard cap, so memory stays bounded either way.
 */
const HARD_BACKPRESSURE_FACTOR = 4;

/** Open WebSocket connections: exactly the sockets that may be called (any call on a closed one throws). */
export class WsConnections implements Connections<WsConn> {
  private readonly open = new Set<WsConn>();

  get size(): number {
    return this.open.size;
  }

  snapshot(): WsConn[] {
    return [...this.open];
  }

  add(ws: WsConn): void {
    this.open.add(ws);
  }

  delete(ws: WsConn): void {
    this.open.delete(ws);
  }

  state(ws: WsConn): SessionState {
    return ws.getUserData();
  }

  isOpen(ws: WsConn): boolean {
    return this.open.has(ws);
  }

  send(ws: WsConn, frame: Frame): void {
    ws.send(frame, false);
  }

  join(ws: WsConn, topic: string): void {
    ws.subscribe(topic);
  }

  leave(ws: WsConn, topic: string): void {
    ws.unsubscribe(topic);
  }

  close(ws: WsConn, code: number, reason: string): void {
    if (this.open.has(ws)) ws.end(code, reason);
  }

  bufferedAmount(ws: WsConn): number {
    return ws.getBufferedAmount();
  }
}

export interface WebSocketRouteOptions {
  uws: typeof Uws;
  config: Pick<Config, 'maxFrameBytes' | 'maxBackpressureBytes' | 'idleTimeoutSeconds'>;
  metrics: Metrics;
  admission: Admission;
  sessions: Sessions;
  connections: WsConnections;
}

export function addWebSocketRoute(app: Uws.TemplatedApp, opts: WebSocketRouteOptions): void {
  const { uws, config, metrics, admission, sessions, connections } = opts;
  app.ws<SessionState>('/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: config.maxFrameBytes,
    maxBackpressure: config.maxBackpressureBytes * HARD_BACKPRESSURE_FACTOR,
    // Typed as number in 20.30's index.d.ts; the native code reads it as an integer flag.
    closeOnBackpressureLimit: 1,
    idleTimeout: config.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const refusal = admission.decide();
      if (refusal !== undefined) return replyJson(res, refusal.status, { error: refusal.error });
      res.upgrade(
        sessions.newState(),
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      connections.add(ws);
      metrics.connects.inc({ transport: 'ws' });
      metrics.connections.inc({ transport: 'ws' });
      sessions.opened(connections, ws);
    },
    message: (ws, data, isBinary) => sessions.message(connections, ws, data, isBinary),
    drain: (ws) => sessions.drained(ws.getUserData()),
    close: (ws, code) => {
      connections.delete(ws);
      sessions.closed(ws.getUserData());
      metrics.connections.dec({ transport: 'ws' });
      metrics.disconnects.inc({ code: String(code) });
    },
  });
}

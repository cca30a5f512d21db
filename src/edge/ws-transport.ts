/**
 * The WebSocket transport: GET /ws on uWebSockets.js. Registers the route with its limits,
 * asks Admission before each upgrade (origin, rates, limits; refusals answered in JSON), and hands every event of an open socket to the sessions;
 * `WsConnections` is the Transport (transport.ts) over uWS sockets and their registry.
 *
 * uWS settings are set on purpose (DESIGN §11): inbound frames over NOTIFIER_MAX_FRAME_BYTES are
 * dropped by uWS (the client sees 1006, not 1009); native publish silently skips a socket over
 * `maxBackpressure`, so lifecycle.ts closes slow sockets well before, and uWS closes whatever
 * outruns that sweep.
 *
 * May import the bus contract and config types, auth, entry, peer, uws, admission and transport.
 */
import type { BusNotification } from '../bus/bus.js';
import type { Config } from '../config/schema.js';
import type { UpgradeRequest } from './admission.js';
import type { AuthResult } from './auth/authenticator.js';
import { answeredProtocol, extractToken } from './auth/token-carriers.js';
import { refuse, type EntryOptions } from './entry.js';
import { anonymousFrom } from './peer.js';
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

  deliver(ws: WsConn, n: BusNotification): void {
    ws.send(n.frame, false);
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

export interface WebSocketRouteOptions extends EntryOptions {
  uws: typeof Uws;
  config: Pick<Config, 'maxFrameBytes' | 'maxBackpressureBytes' | 'idleTimeoutSeconds'>;
  connections: WsConnections;
}

const UNAUTHORIZED = '401 Unauthorized';

export function addWebSocketRoute(app: Uws.TemplatedApp, opts: WebSocketRouteOptions): void {
  const { uws, config, metrics, admission, sessions, connections, authenticator } = opts;
  app.ws<SessionState>('/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: config.maxFrameBytes,
    maxBackpressure: config.maxBackpressureBytes * HARD_BACKPRESSURE_FACTOR,
    // Typed as number in 20.30's index.d.ts; the native code reads it as an integer flag.
    closeOnBackpressureLimit: 1,
    idleTimeout: config.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      // Everything the upgrade needs is read now: uWS frees `req` when this handler returns (DESIGN §11).
      const request: UpgradeRequest = { ip: opts.clientAddress(res, req), origin: req.getHeader('origin'), host: req.getHeader('host') };
      const key = req.getHeader('sec-websocket-key');
      const offered = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // Never the offered header as it is: it may hold `bearer.<token>`, echoed into logs and ws.protocol.
      const protocol = answeredProtocol(offered);
      const early = admission.arrive(request);
      if (early !== undefined) return refuse(res, early);
      if (authenticator === undefined) {
        const peer = anonymousFrom(request.ip);
        const refusal = admission.decideUser(peer);
        if (refusal !== undefined) return refuse(res, refusal);
        return res.upgrade(sessions.newState(peer), key, protocol, extensions, context);
      }
      const carried = extractToken({ query: req.getQuery(), authorization: req.getHeader('authorization'), protocol: offered });
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const verified: Promise<AuthResult> = carried.conflict
        ? Promise.resolve({ ok: false, reason: 'invalid', detail: 'carrier-conflict' })
        : authenticator.authenticate(carried.token, request.ip);
      void verified.then((result) => {
        if (aborted) return;
        res.cork(() => {
          if (!result.ok) {
            opts.onAuthFailure?.(result.reason, result.detail);
            return refuse(res, { status: UNAUTHORIZED, error: 'unauthorized', reason: result.reason });
          }
          const refusal = admission.decide(request) ?? admission.decideUser(result.peer);
          if (refusal !== undefined) return refuse(res, refusal);
          res.upgrade(sessions.newState(result.peer), key, protocol, extensions, context);
        });
      });
    },
    open: (ws) => {
      connections.add(ws);
      admission.opened(ws.getUserData().peer);
      metrics.connects.inc({ transport: 'ws' });
      metrics.connections.inc({ transport: 'ws' });
      sessions.opened(connections, ws);
    },
    message: (ws, data, isBinary) => sessions.message(connections, ws, data, isBinary),
    drain: (ws) => sessions.drained(ws.getUserData()),
    close: (ws, code) => {
      connections.delete(ws);
      admission.closed(ws.getUserData().peer);
      sessions.closed(ws.getUserData());
      metrics.connections.dec({ transport: 'ws' });
      metrics.disconnects.inc({ code: String(code) });
    },
  });
}

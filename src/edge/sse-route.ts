/**
 * The Server-Sent Events route: GET /sse?filter=…&filter=…[&where=…][&token=…][&last_event_id=…].
 * A stream carries the WebSocket's envelopes (sse-frames.ts) for the subscriptions its URL names,
 * from now, or — with Last-Event-ID — from where a previous stream stopped, exactly as a
 * WebSocket resume: every missed matching notification in order, then live; `event: reset` when
 * that history is gone.
 *
 * Everything is decided before the status line, so a refused client gets a plain JSON answer and
 * never an event: admission's first check (origin, upgrade rate, draining… as for /ws), the
 * query (400), the token (401, NOTIFIER_AUTH=jwt: `?token=` since EventSource sets no header, or
 * `Authorization`), admission again and its per-user limit (503, 429), then the subscriptions
 * (403 forbidden filter, 400 too many). Same order as ws-transport.ts's upgrade.
 *
 * SSE has no inbound channel: no subscribe, refresh or ping. A client changes subscriptions or
 * renews its token by opening a new stream (with its Last-Event-ID: nothing is missed).
 *
 * May import protocol, auth, entry, http-reply, peer, admission,
 * session, sse-connections, sse-frames, uws and the transport contract.
 */
import { ErrorCode } from '../protocol/messages.js';
import type { UpgradeRequest } from './admission.js';
import type { AuthResult } from './auth/authenticator.js';
import { extractToken } from './auth/token-carriers.js';
import { refuse, type EntryOptions } from './entry.js';
import { replyJson } from './http-reply.js';
import { anonymousFrom } from './peer.js';
import { parseSseRequest, retryField, type StreamPosition } from './sse-frames.js';
import type { SseConnections } from './sse-connections.js';
import type { Peer } from './transport.js';
import type { Uws } from './uws.js';
import type { WireSubscription } from '../protocol/subscription.js';

/** How long an EventSource waits before reconnecting (its `retry:` field), in ms. */
export const SSE_RETRY_MS = 2000;

export interface SseRouteOptions extends EntryOptions {
  connections: SseConnections;
}

const BAD_REQUEST = '400 Bad Request';

export function addSseRoute(app: Uws.TemplatedApp, opts: SseRouteOptions): void {
  const { metrics, admission, sessions, connections, authenticator } = opts;
  connections.attach({
    drained: (c) => sessions.drained(c.state),
    ended: (c, code) => {
      admission.closed(c.state.peer);
      sessions.closed(c.state);
      metrics.connections.dec({ transport: 'sse' });
      metrics.disconnects.inc({ code: String(code) });
    },
  });

  /** Past every check: the status line, the headers, `retry:`, welcome, then the subscriptions start. */
  const start = (res: Uws.HttpResponse, peer: Peer, origin: string, subs: WireSubscription[], from: StreamPosition | undefined): void => {
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', 'text/event-stream; charset=utf-8')
      .writeHeader('cache-control', 'no-cache')
      // nginx (and ingress-nginx) would otherwise buffer the stream.
      .writeHeader('x-accel-buffering', 'no');
    // Reached only when admission allowed the origin: a cross-origin EventSource needs it echoed.
    if (origin !== '') res.writeHeader('access-control-allow-origin', origin).writeHeader('vary', 'origin');
    const c = connections.add(res, sessions.newState(peer), from);
    res.onAborted(() => connections.aborted(c));
    connections.write(c, retryField(SSE_RETRY_MS));
    admission.opened(peer);
    metrics.connects.inc({ transport: 'sse' });
    metrics.connections.inc({ transport: 'sse' });
    sessions.opened(connections, c);
    sessions.begin(connections, c, subs, from);
  };

  /** The checks after the token: admission again (time passed), its per-user limit, then the subscriptions. */
  const admit = (res: Uws.HttpResponse, request: UpgradeRequest, peer: Peer, subs: WireSubscription[], from: StreamPosition | undefined): void => {
    const refusal = admission.decide(request) ?? admission.decideUser(peer);
    if (refusal !== undefined) return refuse(res, refusal);
    const refused = sessions.refusal(peer, subs);
    if (refused?.code === ErrorCode.Forbidden) return replyJson(res, '403 Forbidden', { error: 'forbidden', filter: refused.filter });
    if (refused !== undefined) return replyJson(res, BAD_REQUEST, { error: refused.code, message: refused.message });
    start(res, peer, request.origin, subs, from);
  };

  app.get('/sse', (res, req) => {
    // Everything is read now: uWS frees `req` when this handler returns.
    const request: UpgradeRequest = { ip: opts.clientAddress(res, req), origin: req.getHeader('origin'), host: req.getHeader('host') };
    const query = req.getQuery() ?? '';
    const lastEventId = req.getHeader('last-event-id');
    const authorization = req.getHeader('authorization');
    // Replaced by the stream's own handler once it starts.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const early = admission.arrive(request);
    if (early !== undefined) return refuse(res, early);
    const parsed = parseSseRequest(query, lastEventId);
    if (!parsed.ok) {
      metrics.clientErrors.inc({ code: parsed.error });
      return replyJson(res, BAD_REQUEST, { error: parsed.error, message: parsed.message });
    }
    const { subscriptions, from } = parsed;
    if (authenticator === undefined) {
      return admit(res, request, anonymousFrom(request.ip), subscriptions, from);
    }
    const carried = extractToken({ query, authorization });
    const verified: Promise<AuthResult> = carried.conflict
      ? Promise.resolve({ ok: false, reason: 'invalid', detail: 'carrier-conflict' })
      : authenticator.authenticate(carried.token, request.ip);
    void verified.then((result) => {
      if (aborted) return;
      res.cork(() => {
        if (!result.ok) {
          opts.onAuthFailure?.(result.reason, result.detail);
          return replyJson(res, '401 Unauthorized', { error: 'unauthorized', reason: result.reason });
        }
        admit(res, request, result.peer, subscriptions, from);
      });
    });
  });
}

/**
 * What the edge's two client entry points share: `GET /ws` (ws-transport.ts) and `GET /sse`
 * (sse-route.ts) take the same parts, run the same checks in the same order (admission, token,
 * limits, then the session), and answer a refusal alike, in JSON, before any byte of a stream.
 *
 * May import observability types, admission, auth (types), http-reply and the session, transport
 * and uws types.
 */
import type { Metrics } from '../observability/metrics.js';
import type { Admission, Refusal } from './admission.js';
import type { AuthResult, Authenticator } from './auth/authenticator.js';
import type { CarriedToken } from './auth/token-carriers.js';
import { replyJson } from './http-reply.js';
import type { Sessions } from './session.js';
import type { Peer } from './transport.js';
import type { Uws } from './uws.js';

export interface EntryOptions {
  metrics: Metrics;
  admission: Admission;
  sessions: Sessions;
  /** The client's address as admission sees it (client-address.ts). */
  clientAddress: (res: Uws.HttpResponse, req: Uws.HttpRequest) => string;
  /** NOTIFIER_AUTH=jwt: every connection carries a token, verified before it opens. Absent: anonymous. */
  authenticator?: Authenticator | undefined;
  /** A refused token (metrics, debug log): never the token itself. */
  onAuthFailure?: (reason: string, detail: string) => void;
}

/** Answers a refusal: its status, `{"error":…}` and, when there is one, `"reason"`. */
export function refuse(res: Uws.HttpResponse, refusal: Refusal): void {
  replyJson(res, refusal.status, refusal.reason === undefined ? { error: refusal.error } : { error: refusal.error, reason: refusal.reason });
}

/**
 * Verifies the token the request carried, then, unless the client went away meanwhile (uWS
 * forbids touching an aborted response), answers 401 or lets `admit` go on, corked.
 */
export function authenticateThen(
  opts: EntryOptions,
  authenticator: Authenticator,
  res: Uws.HttpResponse,
  req: { carried: CarriedToken; ip: string; aborted: () => boolean },
  admit: (peer: Peer) => void,
): void {
  const verified: Promise<AuthResult> = req.carried.conflict
    ? Promise.resolve({ ok: false, reason: 'invalid', detail: 'carrier-conflict' })
    : authenticator.authenticate(req.carried.token, req.ip);
  void verified.then((result) => {
    if (req.aborted()) return;
    res.cork(() => {
      if (!result.ok) {
        opts.onAuthFailure?.(result.reason, result.detail);
        return refuse(res, { status: '401 Unauthorized', error: 'unauthorized', reason: result.reason });
      }
      admit(result.peer);
    });
  });
}

/**
 * What the edge's two client entry points share: `GET /ws` (ws-transport.ts) and `GET /sse`
 * (sse-route.ts) take the same parts, run the same checks in the same order (admission, token,
 * limits, then the session), and answer a refusal alike, in JSON, before any byte of a stream.
 *
 * May import observability types, admission, auth (types), http-reply, session (types) and uws (types).
 */
import type { Metrics } from '../observability/metrics.js';
import type { Admission, Refusal } from './admission.js';
import type { Authenticator } from './auth/authenticator.js';
import { replyJson } from './http-reply.js';
import type { Sessions } from './session.js';
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

/**
 * GET /metrics and GET /stats: on the main port, or on NOTIFIER_METRICS_PORT alone (edge.ts gives
 * that port its own uWS app). With NOTIFIER_METRICS_TOKEN both require `Authorization: Bearer
 * <token>` (401 otherwise), compared in constant time.
 *
 * May import node:crypto, observability types, http-reply and uws (types).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metrics } from '../observability/metrics.js';
import { replyAsync, replyJson } from './http-reply.js';
import type { Uws } from './uws.js';

export interface MetricsRoutesOptions {
  metrics: Metrics;
  stats: () => Record<string, unknown>;
  /** Before each scrape: the bus heartbeat age in ms (null before the first). */
  heartbeatAgeMs: () => number | null;
  /** NOTIFIER_METRICS_TOKEN; undefined: no token asked. */
  token: string | undefined;
}

export const METRICS_PATHS = ['/stats', '/metrics'] as const;

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether an Authorization header carries `Bearer <token>`: hashes compared, so length leaks nothing either. */
export function bearerMatches(authorization: string, expected: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return timingSafeEqual(digest(m?.[1] ?? ''), expected) && m !== null;
}

export function addMetricsRoutes(app: Uws.TemplatedApp, opts: MetricsRoutesOptions): void {
  const { metrics, token } = opts;
  const expected = token === undefined ? undefined : digest(token);
  const allowed = (res: Uws.HttpResponse, req: Uws.HttpRequest): boolean => {
    if (expected === undefined || bearerMatches(req.getHeader('authorization'), expected)) return true;
    replyJson(res, '401 Unauthorized', { error: 'unauthorized: send Authorization: Bearer <NOTIFIER_METRICS_TOKEN>' }, { 'www-authenticate': 'Bearer' });
    return false;
  };
  app.get('/stats', (res, req) => {
    if (allowed(res, req)) replyJson(res, '200 OK', opts.stats());
  });
  app.get('/metrics', (res, req) => {
    if (!allowed(res, req)) return;
    replyAsync(res, async () => {
      metrics.busHeartbeatAge.set((opts.heartbeatAgeMs() ?? -1000) / 1000);
      return { status: '200 OK', type: metrics.registry.contentType, body: await metrics.registry.metrics() };
    });
  });
}

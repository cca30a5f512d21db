/**
 * The edge's plain HTTP routes: GET /health (liveness), /ready (readiness), /stats, /metrics,
 * the optional live routes (live-routes.ts) and a 404 that lists them all. Each answers from
 * functions handed in, so this file knows nothing of connections or the bus.
 *
 * May import config and observability types, http-reply, live-routes, send-endpoint (type) and uws.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { replyAsync, replyJson } from './http-reply.js';
import { addLiveRoutes } from './live-routes.js';
import type { SendFn } from './send-endpoint.js';
import type { Uws } from './uws.js';

export interface HttpRoutesOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** The process's readiness (GET /ready's status). */
  ready: () => boolean;
  /** The rest of GET /ready's body: what readiness depends on. */
  readyDetails: () => Record<string, unknown>;
  stats: () => Record<string, unknown>;
  /** Before each scrape: the bus heartbeat age in ms (null before the first). */
  heartbeatAgeMs: () => number | null;
  livePage: boolean;
  send: SendFn | undefined;
  sendLoopbackOnly: boolean;
  /** Paths served by other modules (/ws), for the 404 answer. */
  otherPaths: readonly string[];
}

export function addHttpRoutes(app: Uws.TemplatedApp, opts: HttpRoutesOptions): void {
  const { metrics } = opts;
  app.get('/health', (res) => replyJson(res, '200 OK', { status: 'ok' }));
  app.get('/ready', (res) => {
    const ready = opts.ready();
    replyJson(res, ready ? '200 OK' : '503 Service Unavailable', { status: ready ? 'ready' : 'not ready', ...opts.readyDetails() });
  });
  app.get('/stats', (res) => replyJson(res, '200 OK', opts.stats()));
  app.get('/metrics', (res) =>
    replyAsync(res, async () => {
      metrics.busHeartbeatAge.set((opts.heartbeatAgeMs() ?? -1000) / 1000);
      return { status: '200 OK', type: metrics.registry.contentType, body: await metrics.registry.metrics() };
    }),
  );
  const live = addLiveRoutes(app, opts);
  const endpoints = [...opts.otherPaths, '/health', '/ready', '/stats', '/metrics', ...live];
  app.any('/*', (res) => replyJson(res, '404 Not Found', { error: 'not found', endpoints }));
}

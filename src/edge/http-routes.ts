/**
 * The edge's plain HTTP routes: GET /health (liveness), /ready (readiness), /stats and /metrics
 * (metrics-routes.ts: here, or on NOTIFIER_METRICS_PORT's own app), the optional live routes
 * (live-routes.ts) and a 404 that lists them all. Each answers from functions handed in, so this
 * file knows nothing of connections or the bus.
 *
 * May import config and observability types, http-reply, live-routes, metrics-routes, send-endpoint (type) and uws.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { replyJson } from './http-reply.js';
import { addLiveRoutes } from './live-routes.js';
import { METRICS_PATHS, addMetricsRoutes } from './metrics-routes.js';
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
  /** NOTIFIER_METRICS_PORT's app: /metrics and /stats are served there and not on `app`. */
  metricsApp?: Uws.TemplatedApp | undefined;
}

export function addHttpRoutes(app: Uws.TemplatedApp, opts: HttpRoutesOptions): void {
  app.get('/health', (res) => replyJson(res, '200 OK', { status: 'ok' }));
  app.get('/ready', (res) => {
    const ready = opts.ready();
    replyJson(res, ready ? '200 OK' : '503 Service Unavailable', { status: ready ? 'ready' : 'not ready', ...opts.readyDetails() });
  });
  const metricsOptions = { metrics: opts.metrics, stats: opts.stats, heartbeatAgeMs: opts.heartbeatAgeMs, token: opts.config.metricsToken };
  const separate = opts.metricsApp;
  addMetricsRoutes(separate ?? app, metricsOptions);
  if (separate !== undefined) separate.any('/*', (res) => replyJson(res, '404 Not Found', { error: 'not found', endpoints: METRICS_PATHS }));
  const live = addLiveRoutes(app, opts);
  const endpoints = [...opts.otherPaths, '/health', '/ready', ...(separate ? [] : METRICS_PATHS), ...live];
  app.any('/*', (res) => replyJson(res, '404 Not Found', { error: 'not found', endpoints }));
}

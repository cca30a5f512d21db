/**
 * The edge's optional routes for people rather than programs: the live page (GET /, with
 * GET /api/info telling it what this server offers) and the test form's POST /api/notify.
 *
 * May import config and observability types, http-reply, live-page, send-endpoint and uws (types).
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { replyJson } from './http-reply.js';
import { loadLivePage, serveLivePage } from './live-page.js';
import { LOOPBACK_ONLY_HINT, isLoopback, sendEndpoint, type SendFn } from './send-endpoint.js';
import type { Uws } from './uws.js';

export interface LiveRoutesOptions {
  config: Config;
  logger: Logger;
  livePage: boolean;
  send: SendFn | undefined;
  sendLoopbackOnly: boolean;
}

const SEND_OFF_HINT = 'the send endpoint is off on this server; set NOTIFIER_SEND_ENDPOINT=1 (an edge also needs DATABASE_URL)';

/** Registers the routes that are on; returns their paths (for the 404 answer). */
export function addLiveRoutes(app: Uws.TemplatedApp, opts: LiveRoutesOptions): string[] {
  const paths: string[] = [];
  const { send } = opts;
  if (opts.livePage) {
    // Read once, at start: a missing file fails the start rather than the first visitor.
    const page = loadLivePage();
    app.get('/', (res, req) => serveLivePage(res, req, page));
    app.get('/api/info', (res) => {
      const local = !opts.sendLoopbackOnly || isLoopback(res.getRemoteAddress());
      replyJson(res, '200 OK', {
        send: send === undefined ? { enabled: false, reason: SEND_OFF_HINT } : local ? { enabled: true } : { enabled: false, reason: LOOPBACK_ONLY_HINT },
        channels: opts.config.channels,
        max_subscriptions: opts.config.maxSubscriptions,
      });
    });
    paths.push('/', '/api/info');
  }
  if (send !== undefined) {
    app.any('/api/notify', sendEndpoint({ send, loopbackOnly: opts.sendLoopbackOnly, logger: opts.logger }));
    paths.push('/api/notify');
  }
  return paths;
}

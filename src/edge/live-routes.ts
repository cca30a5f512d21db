/**
 * The edge's optional routes for people rather than programs: the live page (GET /, with
 * GET /api/info telling it what this server offers, and the client SDK it runs on at GET /sdk/…)
 * and the test form's POST /api/notify.
 *
 * Each answers only a Host on NOTIFIER_ALLOWED_HOSTS (403 otherwise): a page on another name that
 * DNS-rebinds to this server must not read it nor write to the database through it.
 *
 * May import config and observability types, browser-checks, http-reply, live-page, sdk-routes, send-endpoint and uws (types).
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { hostAllowed } from './browser-checks.js';
import { replyJson } from './http-reply.js';
import { loadLivePage, serveLivePage } from './live-page.js';
import { SDK_ENTRY, loadSdkFiles, serveSdkFile } from './sdk-routes.js';
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

const HOST_HINT = 'this Host is not in NOTIFIER_ALLOWED_HOSTS (a guard against DNS rebinding); add the name this server is reached by';

type Handler = (res: Uws.HttpResponse, req: Uws.HttpRequest) => void;

/** Registers the routes that are on; returns their paths (for the 404 answer). */
export function addLiveRoutes(app: Uws.TemplatedApp, opts: LiveRoutesOptions): string[] {
  const paths: string[] = [];
  const { send } = opts;
  const hosts = opts.config.allowedHosts;
  const guarded =
    (handler: Handler): Handler =>
    (res, req) => {
      if (!hostAllowed(req.getHeader('host'), hosts)) return replyJson(res, '403 Forbidden', { error: HOST_HINT });
      handler(res, req);
    };
  if (opts.livePage) {
    // Read once, at start: a missing file fails the start rather than the first visitor.
    const page = loadLivePage();
    const sdk = loadSdkFiles();
    app.get('/', guarded((res, req) => serveLivePage(res, req, page)));
    app.get('/sdk/*', guarded((res, req) => serveSdkFile(res, req, sdk)));
    app.get('/api/info', guarded((res) => {
      const local = !opts.sendLoopbackOnly || isLoopback(res.getRemoteAddress());
      replyJson(res, '200 OK', {
        send: send === undefined ? { enabled: false, reason: SEND_OFF_HINT } : local ? { enabled: true } : { enabled: false, reason: LOOPBACK_ONLY_HINT },
        channels: opts.config.channels,
        max_subscriptions: opts.config.maxSubscriptions,
      });
    }));
    paths.push('/', '/api/info', SDK_ENTRY);
  }
  if (send !== undefined) {
    app.any('/api/notify', guarded(sendEndpoint({ send, loopbackOnly: opts.sendLoopbackOnly, logger: opts.logger })));
    paths.push('/api/notify');
  }
  return paths;
}

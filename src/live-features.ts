/**
 * The live page and its send endpoint per role: `notifier start` has both by default (the send
 * endpoint for clients on this machine only), an edge has neither unless asked
 * (NOTIFIER_LIVE_PAGE, NOTIFIER_SEND_ENDPOINT). The send endpoint's PostgreSQL pool lives here,
 * so the edge never imports pg.
 */
import pg from 'pg';
import { ConfigError } from './config/load-config.js';
import type { Config } from './config/schema.js';
import type { SendFn } from './edge/send-endpoint.js';
import { sendNotification } from './notify/send-notification.js';

export interface LiveFeatures {
  /** Spread into the Edge options. */
  edge: { livePage: boolean; send?: SendFn; sendLoopbackOnly?: boolean };
  /** Closes the send endpoint's pool (after the edge stopped). */
  close(): Promise<void>;
}

export function liveFeatures(role: 'start' | 'edge', config: Config): LiveFeatures {
  const { databaseUrl } = config;
  const livePage = config.livePage ?? role === 'start';
  if (!(config.sendEndpoint ?? role === 'start')) return { edge: { livePage }, close: () => Promise.resolve() };
  if (databaseUrl === undefined) {
    throw new ConfigError(['NOTIFIER_SEND_ENDPOINT (sendEndpoint): POST /api/notify sends through PostgreSQL; set DATABASE_URL too, or turn it off']);
  }
  // Connects on the first send: an idle `notifier start` or edge holds no extra connection.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 5000, query_timeout: 5000, idleTimeoutMillis: 10_000 });
  // An idle client's error (PostgreSQL restarted) would otherwise crash the process; the pool
  // drops that client and the next send connects again.
  pool.on('error', () => undefined);
  const send: SendFn = (r) => sendNotification(pool, r);
  return {
    edge: { livePage, send, sendLoopbackOnly: config.sendEndpoint === undefined },
    close: () => pool.end(),
  };
}

/**
 * Wires the roles together: which bus, which servers, in which order they start and stop, and
 * what each role's readiness (/ready, notifier_ready) combines: set here, after its parts are built.
 */
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory-bus.js';
import { RedisBus } from './bus/redis-bus.js';
import { ConfigError } from './config/load-config.js';
import { withDefaultDatabase, type Config, type DatabaseConfig } from './config/schema.js';
import { authModeFor, jwtSettings } from './config/jwt-settings.js';
import { createEdgeAuthenticator } from './edge/auth/edge-authenticator.js';
import { Edge } from './edge/edge.js';
import { liveFeatures } from './live-features.js';
import { embeddedBanner, type BannerAuth } from './embedded/banner.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded/embedded-postgres.js';
import { Listener } from './listener/listener.js';
import { startListenerHttp } from './listener/listener-http.js';
import { runMigrations } from './migrate/run-migrations.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { backoffDelay } from './util/backoff.js';

export type RoleName = 'start' | 'listener' | 'edge';

export interface RunningRole {
  /** Resolves with the HTTP port actually bound (PORT=0 picks a free one). */
  port: number;
  stop(): Promise<void>;
  /** For stdout, once: `start` on its embedded PostgreSQL says where to send and watch notifications. */
  banner?: string;
}

export async function startRole(role: RoleName, config: Config, logger: Logger, signal: AbortSignal): Promise<RunningRole> {
  if (role !== 'start' && config.redisUrl === undefined) {
    throw new ConfigError([
      `REDIS_URL is required for \`notifier ${role}\`: listeners and edges talk through Redis. ` +
        'Set REDIS_URL (e.g. redis://localhost:6379), or run `notifier start` for a single process without Redis.',
    ]);
  }
  if (role === 'edge' && authModeFor('edge', config) === undefined) {
    throw new ConfigError([
      'NOTIFIER_AUTH is required for `notifier edge`: set NOTIFIER_AUTH=jwt (clients present a token; see README "Authentication and permissions") ' +
        'or NOTIFIER_AUTH=none (anonymous clients may subscribe to any filter, `all` included: only behind an authenticating proxy or on a private network).',
    ]);
  }
  // Only `start` embeds a PostgreSQL, and only without DATABASE_URL.
  const embedded = role === 'start' && config.databaseUrl === undefined ? await startEmbeddedPostgres(config, logger, signal) : undefined;
  if (embedded) config = { ...config, databaseUrl: embedded.databaseUrl };
  const metrics = createMetrics();
  const bus = createBus(config, logger, metrics);
  try {
    switch (role) {
      case 'listener':
        return await startListenerOnly(withDefaultDatabase(config), bus, logger, metrics);
      case 'edge':
        return await startEdgeOnly(config, bus, logger, metrics);
      case 'start':
        return withEmbedded(await startStandalone(withDefaultDatabase(config), bus, logger, metrics, signal), embedded, config);
    }
  } catch (err) {
    await bus.close().catch(() => undefined);
    await embedded?.stop();
    throw err;
  }
}

/** PostgreSQL stops last, after the edge drained and the listener let go. */
function withEmbedded(running: RunningRole, embedded: EmbeddedPostgres | undefined, config: Config): RunningRole {
  if (!embedded) return running;
  return {
    port: running.port,
    stop: async () => {
      await running.stop();
      await embedded.stop();
    },
    banner: embeddedBanner({
      databaseUrl: embedded.databaseUrl,
      dataDir: embedded.dataDir,
      edgePort: running.port,
      livePage: config.livePage !== false,
      auth: bannerAuth(config),
    }),
  };
}

/** What the banner says about authentication: the mode `start` runs with (none by default). */
function bannerAuth(config: Config): BannerAuth {
  const settings = authModeFor('start', config) === 'jwt' ? jwtSettings(config) : undefined;
  return settings === undefined ? { mode: 'none' } : { mode: 'jwt', algorithms: settings.algorithms, keySource: settings.keySource.kind };
}

function createBus(config: Config, logger: Logger, metrics: Metrics): Bus {
  if (config.redisUrl === undefined) {
    logger.info({ event: 'bus:memory' }, 'REDIS_URL not set: using the in-process bus (one process only)');
    return new MemoryBus({ retention: config.streamRetention });
  }
  return new RedisBus({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    streamRetention: config.streamRetention,
    dedupeTtlSeconds: config.dedupeTtlSeconds,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    logger: logger.child({ component: 'bus' }),
    metrics,
  });
}

async function startListenerOnly(config: DatabaseConfig, bus: Bus, logger: Logger, metrics: Metrics): Promise<RunningRole> {
  const listener = new Listener({ config, bus, logger, metrics });
  metrics.setReadiness(() => listener.isReady());
  const server: Server = await startListenerHttp(listener, metrics.registry, config.host, config.port);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ event: 'listener:http:listening', port }, `listener health/metrics on port ${port}`);
  listener.start();
  return {
    port,
    stop: async () => {
      await listener.stop();
      await new Promise((r) => server.close(r));
      await bus.close();
    },
  };
}

async function startEdgeOnly(config: Config, bus: Bus, logger: Logger, metrics: Metrics): Promise<RunningRole> {
  const live = liveFeatures('edge', config);
  const authenticator = await createEdgeAuthenticator(config, logger);
  const edge = new Edge({ config, bus, logger, metrics, authenticator, ...live.edge });
  metrics.setReadiness(() => edge.isReady());
  await edge.start();
  return {
    port: edge.port,
    stop: async () => {
      await edge.stop();
      await live.close();
      await bus.close();
    },
  };
}

async function startStandalone(config: DatabaseConfig, bus: Bus, logger: Logger, metrics: Metrics, signal: AbortSignal): Promise<RunningRole> {
  if (config.migrate) await migrateWithRetry(config, logger, signal);
  const listener = new Listener({ config, bus, logger, metrics });
  const live = liveFeatures('start', config);
  // One process, one readiness: its /ready, /stats and notifier_ready all answer this (called
  // only once both parts exist: by requests and scrapes).
  const ready = (): boolean => edge.isReady() && listener.isReady();
  const authenticator = await createEdgeAuthenticator(config, logger);
  const edge = new Edge({ config, bus, logger, metrics, authenticator, stats: () => ({ listener_role: listener.role }), ready, ...live.edge });
  metrics.setReadiness(ready);
  await edge.start();
  listener.start();
  return {
    port: edge.port,
    // Together: the lock is handed over at once while the edge spreads its closes over the grace window.
    stop: async () => {
      await Promise.all([edge.stop(), listener.stop()]);
      await live.close();
      await bus.close();
    },
  };
}

/** `notifier start` waits for PostgreSQL instead of dying when it is not up yet. */
async function migrateWithRetry(config: DatabaseConfig, logger: Logger, signal: AbortSignal): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await runMigrations(config.databaseUrl, logger);
      return;
    } catch (err) {
      if (signal.aborted) throw err;
      const delay = backoffDelay(attempt, 500, 10_000);
      logger.error({ event: 'migrate:error', retryInMs: delay }, `${(err as Error).message} (retrying in ${delay} ms; set NOTIFIER_MIGRATE=false to skip)`);
      // Rejects when aborted (a signal while waiting): the migration's error is the one to report.
      await sleep(delay, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw err;
    }
  }
}

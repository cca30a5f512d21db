/**
 * The configuration schema: every setting, its environment variable, its default and its bounds.
 * YAML files use the field names (camelCase); the environment uses the variable names. Env wins.
 */
import { z } from 'zod';
import { authRoles, bool, channelList, cidr, decimal, hostName, int, jwtAlgorithmList, jwtClaimName, jwtPublicKey, jwtSecret, list, optionalUrl, origin, scopeField, unsetIfEmpty } from './fields.js';
import { checkJwtSettings } from './jwt-settings.js';

export const DEFAULT_CHANNELS = [
  'execution_status_changed',
  'execution_created',
  'inquiry_created',
  'inquiry_responded',
  'enforcement_created',
  'event_created',
  'workflow_execution_status_changed',
];

export const DEFAULT_DATA_DIR = './.notifier/postgres';

export const DEFAULT_ALLOWED_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

export const configSchema = z
  .object({
    /** Unset: `start` runs an embedded PostgreSQL, `listener` and `migrate` use DEFAULT_DATABASE_URL. */
    databaseUrl: optionalUrl(['postgres:', 'postgresql:']),
    redisUrl: optionalUrl(['redis:', 'rediss:']),
    host: z.string().min(1).default('0.0.0.0'),
    port: int(0, 65535).default(8080),
    channels: channelList.default(DEFAULT_CHANNELS),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    redisPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1–64 characters of A–Z a–z 0–9 _ . -')
      .default('notifier'),
    migrate: bool.default(true),

    outboxEnabled: bool.default(true),
    outboxPollMs: int(10, 600_000).default(500),
    outboxBatchSize: int(1, 10_000).default(500),
    publishBatchSize: int(1, 10_000).default(1000),
    plainQueueLimit: int(100, 10_000_000).default(100_000),

    lockId: int(0, 2147483647).default(1),
    leaderHeartbeatMs: int(100, 60_000).default(1000),
    leaderQueryTimeoutMs: int(100, 60_000).default(3000),
    pgSessionTimeoutMs: int(1000, 600_000).default(8000),
    standbyRetryMs: int(100, 60_000).default(1000),

    streamRetention: int(1000, 100_000_000).default(100_000),
    dedupeTtlSeconds: int(60, 7 * 24 * 3600).default(3600),
    busHeartbeatMs: int(100, 60_000).default(1000),
    busStaleMs: int(500, 600_000).default(5000),
    redisCommandTimeoutMs: int(100, 60_000).default(5000),

    maxConnections: int(1, 10_000_000).default(50_000),
    maxSubscriptions: int(1, 10_000).default(100),
    maxFrameBytes: int(64, 16 * 1024 * 1024).default(16 * 1024),
    maxInboundPerSecond: int(1, 1_000_000).default(50),
    maxBackpressureBytes: int(1024, 256 * 1024 * 1024).default(1024 * 1024),
    slowConsumerCheckMs: int(10, 60_000).default(250),
    replayCacheBytes: int(0, 4 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    idleTimeoutSeconds: int(0, 960)
      .refine((n) => n === 0 || n >= 8, 'must be 0 (disabled) or at least 8 seconds')
      .default(120),
    drainSeconds: decimal(0, 600).default(10),
    allowUwsFallback: bool.default(false),

    // First run (`notifier start` without DATABASE_URL): the embedded PostgreSQL and the live page.
    dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
    embeddedPgPort: unsetIfEmpty(int(1, 65535)),
    /** Live page at GET /: on by default for `start`, off for `edge` (undefined = the role's default). */
    livePage: unsetIfEmpty(bool),
    /** POST /api/notify for the live page's test form: on by default for `start` only. */
    sendEndpoint: unsetIfEmpty(bool),

    // Authentication (issue 14). No default for `auth`: each role decides (jwt-settings.ts authModeFor).
    auth: unsetIfEmpty(z.enum(['jwt', 'none'])),
    jwtSecret: unsetIfEmpty(jwtSecret),
    jwtPublicKey: unsetIfEmpty(jwtPublicKey),
    jwksUrl: optionalUrl(['https:', 'http:']),
    /** Unset: every algorithm of the key source (jwt-settings.ts jwtSettings). */
    jwtAlgorithms: unsetIfEmpty(jwtAlgorithmList),
    jwtIssuer: unsetIfEmpty(z.string()),
    jwtAudience: unsetIfEmpty(z.string()),
    jwtClockToleranceSeconds: int(0, 600).default(5),
    jwtClaim: jwtClaimName.default('notifier'),
    authRoles: authRoles.default({}),
    /** Notification fields that scope delivery (issue 14 §4): a scoped token gets only notifications with its values. */
    scopeFields: list(scopeField, 16).default([]),

    // Limits at the door (issue 14 §6). 0 = no limit.
    /** Unset: same-origin only (the Origin's host is the request's Host). `*`: any origin. No Origin header: allowed. */
    allowedOrigins: unsetIfEmpty(list(origin)),
    maxConnectionsPerIp: int(0, 10_000_000).default(0),
    maxConnectionsPerUser: int(0, 10_000_000).default(0),
    /** Upgrades per second from one client address (a burst of this many, refilled each second). */
    maxUpgradesPerIpPerSecond: int(0, 1_000_000).default(0),
    /** Peers whose X-Forwarded-For (or PROXY protocol header) names the client: the load balancers. */
    trustedProxies: list(cidr).default([]),
    /** Host header values POST /api/notify and the live page answer (DNS rebinding). */
    allowedHosts: list(hostName).default(DEFAULT_ALLOWED_HOSTS),
    /** Serve /metrics and /stats on this port only (not on PORT). */
    metricsPort: unsetIfEmpty(int(1, 65535)),
    /** Require `Authorization: Bearer <token>` for /metrics and /stats. */
    metricsToken: unsetIfEmpty(z.string().min(16, 'must be at least 16 characters')),
    /** Resume replays one edge runs at once; more wait for a slot. */
    maxConcurrentReplays: int(1, 100_000).default(64),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.leaderQueryTimeoutMs >= c.pgSessionTimeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaderQueryTimeoutMs'],
        message: `must be below pgSessionTimeoutMs (${c.pgSessionTimeoutMs}) so a cut-off leader steps down before PostgreSQL frees its lock`,
      });
    }
    if (c.redisCommandTimeoutMs >= c.pgSessionTimeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisCommandTimeoutMs'],
        message: `must be below pgSessionTimeoutMs (${c.pgSessionTimeoutMs}): an outbox batch waits for Redis inside a transaction`,
      });
    }
    if (c.leaderHeartbeatMs >= c.pgSessionTimeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaderHeartbeatMs'],
        message: `must be below pgSessionTimeoutMs (${c.pgSessionTimeoutMs}), or PostgreSQL ends the idle leader session`,
      });
    }
    checkJwtSettings(c, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  });

export type Config = Readonly<z.infer<typeof configSchema>>;

export const DEFAULT_DATABASE_URL = 'postgresql://postgres@localhost:5432/postgres';

/** A configuration whose database is decided: DATABASE_URL, the default, or an embedded PostgreSQL's. */
export type DatabaseConfig = Config & { readonly databaseUrl: string };

/** The roles that need a database and never embed one (`listener`, `migrate`) use the default. */
export function withDefaultDatabase(config: Config): DatabaseConfig {
  return { ...config, databaseUrl: config.databaseUrl ?? DEFAULT_DATABASE_URL };
}
export type ConfigKey = keyof z.infer<typeof configSchema>;

/** Environment variable of each setting. */
export const ENV_NAMES: Record<ConfigKey, string> = {
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  host: 'HOST',
  port: 'PORT',
  channels: 'NOTIFIER_CHANNELS',
  logLevel: 'LOG_LEVEL',
  redisPrefix: 'NOTIFIER_REDIS_PREFIX',
  migrate: 'NOTIFIER_MIGRATE',
  outboxEnabled: 'NOTIFIER_OUTBOX',
  outboxPollMs: 'NOTIFIER_OUTBOX_POLL_MS',
  outboxBatchSize: 'NOTIFIER_OUTBOX_BATCH_SIZE',
  publishBatchSize: 'NOTIFIER_PUBLISH_BATCH_SIZE',
  plainQueueLimit: 'NOTIFIER_PLAIN_QUEUE_LIMIT',
  lockId: 'NOTIFIER_LOCK_ID',
  leaderHeartbeatMs: 'NOTIFIER_LEADER_HEARTBEAT_MS',
  leaderQueryTimeoutMs: 'NOTIFIER_LEADER_QUERY_TIMEOUT_MS',
  pgSessionTimeoutMs: 'NOTIFIER_PG_SESSION_TIMEOUT_MS',
  standbyRetryMs: 'NOTIFIER_STANDBY_RETRY_MS',
  streamRetention: 'NOTIFIER_STREAM_RETENTION',
  dedupeTtlSeconds: 'NOTIFIER_DEDUPE_TTL_SECONDS',
  busHeartbeatMs: 'NOTIFIER_BUS_HEARTBEAT_MS',
  busStaleMs: 'NOTIFIER_BUS_STALE_MS',
  redisCommandTimeoutMs: 'NOTIFIER_REDIS_COMMAND_TIMEOUT_MS',
  maxConnections: 'NOTIFIER_MAX_CONNECTIONS',
  maxSubscriptions: 'NOTIFIER_MAX_SUBSCRIPTIONS',
  maxFrameBytes: 'NOTIFIER_MAX_FRAME_BYTES',
  maxInboundPerSecond: 'NOTIFIER_MAX_INBOUND_PER_SECOND',
  maxBackpressureBytes: 'NOTIFIER_MAX_BACKPRESSURE_BYTES',
  replayCacheBytes: 'NOTIFIER_REPLAY_CACHE_BYTES',
  slowConsumerCheckMs: 'NOTIFIER_SLOW_CONSUMER_CHECK_MS',
  idleTimeoutSeconds: 'NOTIFIER_IDLE_TIMEOUT_SECONDS',
  drainSeconds: 'NOTIFIER_DRAIN_SECONDS',
  allowUwsFallback: 'NOTIFIER_ALLOW_UWS_FALLBACK',
  dataDir: 'NOTIFIER_DATA_DIR',
  embeddedPgPort: 'NOTIFIER_EMBEDDED_PG_PORT',
  livePage: 'NOTIFIER_LIVE_PAGE',
  sendEndpoint: 'NOTIFIER_SEND_ENDPOINT',
  auth: 'NOTIFIER_AUTH',
  jwtSecret: 'NOTIFIER_JWT_SECRET',
  jwtPublicKey: 'NOTIFIER_JWT_PUBLIC_KEY',
  jwksUrl: 'NOTIFIER_JWKS_URL',
  jwtAlgorithms: 'NOTIFIER_JWT_ALGORITHMS',
  jwtIssuer: 'NOTIFIER_JWT_ISSUER',
  jwtAudience: 'NOTIFIER_JWT_AUDIENCE',
  jwtClockToleranceSeconds: 'NOTIFIER_JWT_CLOCK_TOLERANCE_SECONDS',
  jwtClaim: 'NOTIFIER_JWT_CLAIM',
  authRoles: 'NOTIFIER_AUTH_ROLES',
  scopeFields: 'NOTIFIER_SCOPE_FIELDS',
  allowedOrigins: 'NOTIFIER_ALLOWED_ORIGINS',
  maxConnectionsPerIp: 'NOTIFIER_MAX_CONNECTIONS_PER_IP',
  maxConnectionsPerUser: 'NOTIFIER_MAX_CONNECTIONS_PER_USER',
  maxUpgradesPerIpPerSecond: 'NOTIFIER_MAX_UPGRADES_PER_IP_PER_SECOND',
  trustedProxies: 'NOTIFIER_TRUSTED_PROXIES',
  allowedHosts: 'NOTIFIER_ALLOWED_HOSTS',
  metricsPort: 'NOTIFIER_METRICS_PORT',
  metricsToken: 'NOTIFIER_METRICS_TOKEN',
  maxConcurrentReplays: 'NOTIFIER_MAX_CONCURRENT_REPLAYS',
};

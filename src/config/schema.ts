/**
 * The configuration schema: every setting, its environment variable, its default and its bounds.
 * YAML files use the field names (camelCase); the environment uses the variable names. Env wins.
 */
import { z } from 'zod';
import { compileRoles } from '../protocol/permissions.js';
import { parseCidr } from '../util/cidr.js';
import { checkJwtSettings, inspectPublicKey, isJwtAlgorithm, JWT_ALGORITHMS, MIN_SECRET_BYTES, REGISTERED_CLAIMS } from './jwt-settings.js';

export const DEFAULT_CHANNELS = [
  'execution_status_changed',
  'execution_created',
  'inquiry_created',
  'inquiry_responded',
  'enforcement_created',
  'event_created',
  'workflow_execution_status_changed',
];

// Strings (env, YAML) are converted with Number(); anything else must already be a number. Not
// z.coerce: it reads an empty or blank string, null and false as 0 (PORT= would bind a random port).
const fromString = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v);
const int = (min: number, max: number) => z.preprocess(fromString, z.number().int().min(min).max(max));
const decimal = (min: number, max: number) => z.preprocess(fromString, z.number().min(min).max(max));

const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  return v;
}, z.boolean({ error: 'expected true/false (or 1/0, yes/no, on/off)' }));

/** A PostgreSQL identifier as LISTEN accepts it (we quote it, so any printable name ≤ 63 bytes works). */
const channelName = z
  .string()
  .min(1, 'channel name must not be empty')
  .refine((s) => Buffer.byteLength(s) <= 63, 'channel name is longer than 63 bytes (PostgreSQL truncates it)')
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'channel name must not contain control characters');

const channelList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
  z.array(channelName).max(1000),
);

const url = (protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

export const DEFAULT_DATA_DIR = './.notifier/postgres';

/** An optional setting: an empty value (`VAR=`) or YAML null counts as unset. */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional());

const optionalUrl = (protocols: string[]) => unsetIfEmpty(url(protocols));

// JWT settings (issue 14). Messages never quote a secret; load-config masks the values too.
const jwtSecret = z
  .string()
  .refine((s) => Buffer.byteLength(s) >= MIN_SECRET_BYTES, `must be at least ${MIN_SECRET_BYTES} bytes (HS256 needs a key as long as its hash)`);

/** PEM text; an environment variable may carry it on one line with literal `\n` separators. */
const jwtPublicKey = z.preprocess(
  (v) => (typeof v === 'string' && !v.includes('\n') ? v.replaceAll('\\n', '\n') : v),
  z.string().superRefine((pem, ctx) => {
    const key = inspectPublicKey(pem);
    if (!key.ok) ctx.addIssue({ code: 'custom', message: key.message });
  }),
);

const jwtAlgorithm = z
  .string()
  .refine((s) => s.toLowerCase() !== 'none', 'alg "none" (unsigned tokens) is never accepted')
  .refine((s) => s.toLowerCase() === 'none' || isJwtAlgorithm(s), `expected one of ${JWT_ALGORITHMS.join(', ')}`);

const jwtAlgorithmList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
  z.array(jwtAlgorithm).min(1, 'expected at least one algorithm'),
);

const jwtClaimName = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !REGISTERED_CLAIMS.includes(s), `must not be a registered claim (${REGISTERED_CLAIMS.join(', ')})`);

/** A comma-separated list (environment) or a YAML list. */
const list = <T extends z.ZodType>(item: T, max = 1000) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v), z.array(item).max(max));

/** `authRoles`: role → permissions (protocol/permissions.ts checks each); NOTIFIER_AUTH_ROLES carries it as JSON. */
const authRoles = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  },
  z
    .record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'role names are 1–64 characters of A–Z a–z 0–9 _ . : -'), z.array(z.string()).max(1000), {
      error: 'expected a map of role names to lists of permissions, e.g. {"operator": ["all"], "viewer": ["entity_type:*"]} (JSON in NOTIFIER_AUTH_ROLES)',
    })
    .superRefine((roles, ctx) => {
      const compiled = compileRoles(roles);
      if (!compiled.ok) for (const message of compiled.errors) ctx.addIssue({ code: 'custom', message });
    }),
);

/** A field of a notification that scopes it (tenant_id): looked up at the envelope's top level, then in its payload. */
const scopeField = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a field name: a letter or _, then letters, digits or _ (at most 64)');

/** An exact origin (scheme://host[:port], as browsers send it) or `*`. */
const origin = z.string().refine((s) => {
  if (s === '*') return true;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s;
  } catch {
    return false;
  }
}, 'expected an exact origin such as https://app.example.com (scheme, host and port if not the default; no path, no trailing slash) or *');

/** An IPv4 or IPv6 address or CIDR block (10.0.0.0/8, ::1, fd00::/8). */
const cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'expected an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8');

/** A host name as a Host header carries it, without the port (localhost, 127.0.0.1, [::1], notifier.example.com). */
const hostName = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})$/, 'expected a host name without a port, e.g. localhost, 127.0.0.1, [::1] or notifier.example.com');

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

/**
 * The Redis bus: history in a stream (XADD … MAXLEN ~), announcements by PUBLISH, both from one
 * Lua script per batch. Separate connections for commands and for the subscription, because a
 * subscribed connection can run nothing else.
 *
 * Imports: bus/, protocol/, observability/, util/ and ioredis; nothing above the bus.
 */
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { backoffDelay } from '../util/backoff.js';
import { maskUrl } from '../util/mask-url.js';
import { ZERO_OFFSET } from '../protocol/offsets.js';
import { type Bus, type BusHandler, type BusNotification, type BusPosition, type HistoryPage, type PublishItem } from './bus.js';
import { HEARTBEAT_LUA, PUBLISH_BATCH_LUA } from './redis-scripts.js';
import { redisKeys, type RedisKeys } from './redis-keys.js';
import { decodeStreamEntry, decodeWire, metaFragment } from './wire.js';

export interface RedisBusOptions {
  url: string;
  prefix: string;
  streamRetention: number;
  dedupeTtlSeconds: number;
  commandTimeoutMs: number;
  logger: Logger;
  metrics: Metrics;
}

/** How long the heartbeat key outlives the last heartbeat; older means "no leader". */
const HEARTBEAT_KEY_TTL_MS = 60_000;

interface ScriptCommands {
  notifierPublishBatch(...args: (string | number)[]): Promise<string[]>;
  notifierHeartbeat(...args: (string | number)[]): Promise<string>;
}

export class RedisBus implements Bus {
  private readonly keys: RedisKeys;
  private readonly cmd: Redis & ScriptCommands;
  private sub: Redis | undefined;
  private closed = false;

  constructor(private readonly opts: RedisBusOptions) {
    this.keys = redisKeys(opts.prefix);
    this.cmd = this.connect('command') as Redis & ScriptCommands;
    this.cmd.defineCommand('notifierPublishBatch', { numberOfKeys: 2, lua: PUBLISH_BATCH_LUA });
    this.cmd.defineCommand('notifierHeartbeat', { numberOfKeys: 3, lua: HEARTBEAT_LUA });
  }

  async publish(items: readonly PublishItem[], batchId = ''): Promise<string[]> {
    if (items.length === 0) return [];
    const args: (string | number)[] = [
      this.keys.stream,
      this.keys.epoch,
      this.keys.channel,
      this.opts.streamRetention,
      this.opts.dedupeTtlSeconds,
      this.keys.seenPrefix,
      randomUUID(),
      batchId,
    ];
    for (const it of items) args.push(it.id, it.head, metaFragment(it.keys, it.notificationType, it.sourceTime));
    return this.cmd.notifierPublishBatch(...args);
  }

  async heartbeat(leaderId: string): Promise<void> {
    await this.cmd.notifierHeartbeat(
      this.keys.stream,
      this.keys.epoch,
      this.keys.heartbeat,
      this.keys.channel,
      randomUUID(),
      leaderId,
      Date.now(),
      HEARTBEAT_KEY_TTL_MS,
    );
  }

  async leaderHeartbeatAt(): Promise<number | null> {
    const at = await this.cmd.get(this.keys.heartbeat);
    return at === null ? null : Number(at);
  }

  async position(): Promise<BusPosition> {
    const [epoch, newest] = await Promise.all([
      this.cmd.get(this.keys.epoch),
      this.cmd.xrevrange(this.keys.stream, '+', '-', 'COUNT', 1),
    ]);
    return { epoch, last: newest[0]?.[0] ?? ZERO_OFFSET };
  }

  async readAfter(after: string, count: number): Promise<HistoryPage> {
    const entries = await this.cmd.xrange(this.keys.stream, `(${after}`, '+', 'COUNT', count);
    const items: BusNotification[] = [];
    for (const [id, fields] of entries) {
      const n = decodeStreamEntry(id, fields);
      if (n === null) {
        this.opts.logger.warn({ event: 'bus:history:malformed', offset: id }, 'skipped a malformed stream entry');
        continue;
      }
      items.push(n);
    }
    return { items, complete: items.length === 0 || items[0]?.prev === after };
  }

  subscribe(handler: BusHandler): Promise<void> {
    if (this.sub) throw new Error('RedisBus.subscribe called twice');
    const sub = this.connect('subscriber', { autoResubscribe: false });
    this.sub = sub;
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      const decoded = decodeWire(message);
      if (decoded === null) {
        this.opts.logger.warn({ event: 'bus:message:malformed', bytes: message.length }, 'ignored a malformed bus message');
      } else if (decoded.kind === 'notifications') {
        for (const n of decoded.items) handler.onNotification(n);
      } else {
        handler.onHeartbeat(decoded.h);
      }
    });
    sub.on('close', () => handler.onUnsubscribed?.());
    return new Promise((resolve) => {
      // ioredis' autoResubscribe would silently drop what was published while the connection was
      // down; subscribing on every 'ready' ourselves lets the handler backfill from the stream.
      const onReady = () => {
        sub.subscribe(this.keys.channel).then(
          () => {
            handler.onSubscribed?.();
            resolve();
          },
          (err: Error) => this.opts.logger.warn({ event: 'bus:subscribe:error', err }, 'SUBSCRIBE failed; will retry on reconnect'),
        );
      };
      sub.on('ready', onReady);
    });
  }

  resubscribe(): void {
    // Reconnects; the 'ready' handler subscribes again and reports onSubscribed.
    this.sub?.disconnect(true);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.cmd, this.sub].map((c) => c && closeClient(c)));
  }

  private connect(name: string, extra: RedisOptions = {}): Redis {
    const { url, logger, metrics } = this.opts;
    const client = new Redis(url, {
      connectionName: `notifier-${this.opts.prefix}-${name}`,
      commandTimeout: name === 'subscriber' ? undefined : this.opts.commandTimeoutMs,
      maxRetriesPerRequest: null,
      // ioredis counts reconnect attempts from 1: ceilings 200, 400, 800, 1600, then 3000 ms.
      retryStrategy: (times) => backoffDelay(times, 100, 3000),
      ...extra,
    });
    let failures = 0;
    let readyOnce = false;
    client.on('error', (err: Error) => {
      failures += 1;
      // The first failure of an outage, then every 20th, so a long outage does not flood the log.
      if (failures === 1 || failures % 20 === 0) {
        logger.warn(
          { event: 'redis:connection:error', connection: name, url: maskUrl(url), err: err.message, failures },
          `cannot reach Redis at ${maskUrl(url)} (${err.message}); retrying. Check REDIS_URL and that Redis is running.`,
        );
      }
    });
    client.on('ready', () => {
      if (readyOnce) {
        metrics.redisReconnects.inc({ connection: name });
        logger.info({ event: 'redis:connection:restored', connection: name, failures }, 'Redis connection restored');
      }
      readyOnce = true;
      failures = 0;
    });
    client.on('end', () => {
      if (!this.closed) logger.warn({ event: 'redis:connection:ended', connection: name }, 'Redis connection ended');
    });
    return client;
  }
}

/** QUIT when connected (flushes pending replies), else drop at once: QUIT would wait for a connection. */
async function closeClient(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const timer = setTimeout(() => client.disconnect(), 1000);
  try {
    await client.quit();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

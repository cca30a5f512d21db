/**
 * Plain channels (DESIGN §2, best effort): a LISTEN notification becomes a bus item, serialized
 * once into its client frame head here; and, on taking over, the report of what PostgreSQL did
 * not deliver while no listener led.
 *
 * Imports: bus/ and config/ types, protocol/, observability/, pg types.
 */
import type pg from 'pg';
import type { Bus, PublishItem } from '../bus/bus.js';
import type { DatabaseConfig } from '../config/schema.js';
import { LabelFolder } from '../observability/label-folder.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { envelopeFromText } from '../protocol/envelope.js';
import { frameHead } from '../protocol/frame.js';

export class PlainNotifications {
  /** Per-channel counters, looked up once (label hashing per notification showed in profiles). */
  readonly receivedOn: LabelFolder<{ inc(): void }>;

  constructor(
    config: DatabaseConfig,
    private readonly metrics: Metrics,
  ) {
    this.receivedOn = new LabelFolder(config.channels, (channel) => metrics.pgReceived.labels({ channel, source: 'notify' }));
  }

  /** The bus item for one notification, counted by channel (and as non-JSON when it was not). */
  toItem(msg: pg.Notification): PublishItem {
    const receivedAt = Date.now();
    const built = envelopeFromText(msg.channel, msg.payload ?? '', new Date(receivedAt));
    this.receivedOn.for(msg.channel).inc();
    if (!built.payloadWasJson) this.metrics.pgNonJson.inc();
    return {
      id: '', // one leader session receives each plain NOTIFY; retries are covered by the batch id
      head: frameHead(built.envelope, built.payloadJson),
      keys: built.keys,
      notificationType: msg.channel,
      // The payload's own timestamp when it has a valid one (else it is the receipt time).
      sourceTime: Date.parse(built.envelope.timestamp),
    };
  }
}

/**
 * PostgreSQL drops NOTIFYs sent while no session listens. Before our first heartbeat, the bus
 * still holds the previous leader's last one: from then until our LISTEN, plain notifications
 * were lost. Say so, with the window, and count it (outbox rows are not affected).
 */
export async function reportPlainGap(bus: Bus, logger: Logger, metrics: Metrics): Promise<void> {
  const previous = await bus.leaderHeartbeatAt().catch(() => undefined);
  if (previous === undefined) return; // bus unreachable: unknown
  if (previous === null) {
    logger.info(
      { event: 'leader:plain-gap', windowSeconds: null },
      'no leader heartbeat in the last minute (first start, or a long outage): plain NOTIFYs sent while no listener led were not received',
    );
    return;
  }
  const windowSeconds = Math.max(0, (Date.now() - previous) / 1000);
  metrics.plainUnheard.inc(windowSeconds);
  logger.warn(
    { event: 'leader:plain-gap', windowSeconds, since: new Date(previous).toISOString() },
    `plain NOTIFYs sent in the ${windowSeconds.toFixed(1)} s before this listener took over were lost (outbox notifications are not)`,
  );
}

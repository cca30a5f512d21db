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

/** How much of a bad payload a log line shows. */
const LOGGED_PAYLOAD_CHARS = 200;

export class PlainNotifications {
  /** Per-channel counters, looked up once (label hashing per notification showed in profiles). */
  readonly receivedOn: LabelFolder<{ inc(): void }>;

  constructor(
    config: DatabaseConfig,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.receivedOn = new LabelFolder(config.channels, (channel) => metrics.pgReceived.labels({ channel, source: 'notify' }));
  }

  /**
   * The bus item for one notification, counted by channel (and as non-JSON, logged trimmed, when
   * it was not). Never throws: it runs in node-postgres' notification event, where an exception
   * would end the process. A payload that cannot be made into a frame is dropped, counted and
   * logged, and the notifications around it go on.
   */
  toItem(msg: pg.Notification): PublishItem | undefined {
    this.receivedOn.for(msg.channel).inc();
    let payload: string | undefined;
    try {
      payload = msg.payload ?? '';
      return this.build(msg.channel, payload);
    } catch (err) {
      this.metrics.pgDropped.inc();
      this.logger.error(
        { event: 'listener:payload:dropped', channel: msg.channel, err: (err as Error).message, payload: trimmed(payload) },
        `dropped a notification on ${msg.channel}: its payload could not be delivered (${(err as Error).message})`,
      );
      return undefined;
    }
  }

  private build(channel: string, payload: string): PublishItem {
    const receivedAt = Date.now();
    const built = envelopeFromText(channel, payload, new Date(receivedAt));
    if (!built.payloadWasJson) {
      this.metrics.pgNonJson.inc();
      this.logger.warn(
        { event: 'listener:payload:not-json', channel, payload: trimmed(payload) },
        `a notification on ${channel} is not JSON: delivered as a string`,
      );
    }
    return {
      id: '', // one leader session receives each plain NOTIFY; retries are covered by the batch id
      head: frameHead(built.envelope, built.payloadJson),
      keys: built.keys,
      notificationType: channel,
      // The payload's own timestamp when it has a valid one (else it is the receipt time).
      sourceTime: Date.parse(built.envelope.timestamp),
    };
  }
}

function trimmed(payload: string | undefined): string {
  const p = payload ?? '';
  return p.length <= LOGGED_PAYLOAD_CHARS ? p : `${p.slice(0, LOGGED_PAYLOAD_CHARS)}… (${p.length} characters)`;
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

/**
 * Delivery: the hot path from the bus feed to the clients. Each notification (in offset order,
 * exactly once, see BusFeed) is kept for replays (HistoryReads) and published once to each
 * matching routing topic (FilterIndex.topicsFor), as the frame the listener serialized — no
 * JSON work and no JavaScript loop per recipient: uWS's native publish does the fan-out
 * (DESIGN §5, §11 "Where fan-out time goes").
 *
 * Tenant scopes (scoped-indexes.ts): a notification also goes to its scope's index's topics; its
 * scope key is read from the frame once, and only while some scoped connection is subscribed.
 *
 * Payload predicates are evaluated in the index (FilterIndex.topicsFor), once per distinct
 * predicate per notification, on the frame parsed at most once.
 *
 * SSE subscribers sit on the same topics, fanned out in JavaScript (NotificationFanout).
 *
 * May import the bus contract, observability, filter-index, history-reads and uws (types).
 */
import type { BusNotification } from '../bus/bus.js';
import { LabelFolder } from '../observability/label-folder.js';
import type { Metrics } from '../observability/metrics.js';
import type { HistoryReads } from './history-reads.js';
import type { NotificationScopes } from './notification-scopes.js';
import type { ScopedIndexes } from './scoped-indexes.js';
import type { Uws } from './uws.js';
import { parseEnvelope } from './wheres.js';

/** What delivery needs from a transport's fan-out: uWS's app (native publish) for WebSocket. */
export type TopicPublisher = Pick<Uws.TemplatedApp, 'publish' | 'numSubscribers'>;

/**
 * A fan-out done in JavaScript, for a transport uWS cannot publish to (SSE): it sends the
 * notification to every connection on each topic and returns how many that was. The topics are
 * the same as the WebSocket publish's (one copy per connection, however many filters match).
 */
export interface NotificationFanout {
  fanout(topics: readonly string[], n: BusNotification): number;
}

export interface DeliveryOptions {
  publisher: TopicPublisher;
  /** SSE's subscribers, when the edge serves SSE. */
  fanout?: NotificationFanout | undefined;
  indexes: ScopedIndexes;
  /** A notification's scope key, read only while scoped connections exist. */
  scopes: NotificationScopes;
  history: HistoryReads;
  metrics: Metrics;
  /** The configured channels: other notification types share the metric label `other`. */
  channels: readonly string[];
}

type ByType = { delivered: { inc(n: number): void }; latency: { observe(v: number): void } };

export class Delivery {
  /** Per notification_type (folded into `other` outside the configured channels) metric children. */
  private readonly byType: LabelFolder<ByType>;

  constructor(private readonly opts: DeliveryOptions) {
    const { metrics } = opts;
    this.byType = new LabelFolder(opts.channels, (t) => ({
      delivered: metrics.delivered.labels({ notification_type: t }),
      latency: metrics.latency.labels({ notification_type: t }),
    }));
  }

  deliver(n: BusNotification): void {
    this.opts.history.remember(n);
    const { indexes, scopes } = this.opts;
    let frame: Buffer | undefined;
    const bytes = () => (frame ??= typeof n.frame === 'string' ? Buffer.from(n.frame) : n.frame);
    let envelope: unknown;
    let parsed = false;
    // Parsed only when some payload predicate's filter matches, and then once for every index.
    const parse = () => {
      if (!parsed) {
        envelope = parseEnvelope(n.frame);
        parsed = true;
      }
      return envelope;
    };
    let recipients = 0;
    const topics = indexes.unscoped.topicsFor(n.keys, parse);
    if (topics.length > 0) recipients += this.publish(topics, n, bytes);
    if (indexes.scopes > 0) {
      const scope = scopes.of(n);
      const scoped = scope === undefined ? undefined : indexes.find(scope);
      if (scoped !== undefined) recipients += this.publish(scoped.topicsFor(n.keys, parse), n, bytes);
    }
    if (recipients > 0) {
      const byType = this.byType.for(n.notificationType);
      byType.delivered.inc(recipients);
      byType.latency.observe(Math.max(0, Date.now() - n.sourceTime) / 1000);
    }
  }

  /** One native publish per topic; returns the recipients. `topics` is an index's reused array: used before the next topicsFor. */
  private publish(topics: readonly string[], n: BusNotification, bytes: () => Buffer): number {
    const { publisher, fanout } = this.opts;
    let recipients = 0;
    for (const topic of topics) {
      const subscribers = publisher.numSubscribers(topic);
      if (subscribers === 0) continue;
      recipients += subscribers;
      publisher.publish(topic, bytes(), false, false);
    }
    if (fanout !== undefined && topics.length > 0) recipients += fanout.fanout(topics, n);
    return recipients;
  }
}

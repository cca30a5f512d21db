/**
 * The bus between the leader listener and the edges.
 *
 * Contract for implementations:
 * - `publish` appends every item to the history and announces it to subscribers, in the order
 *   given, each under a new offset, as one atomic step per item. An item whose `id` was
 *   published before (within the dedupe window) is skipped and gets its first offset back, so a
 *   retried batch or two briefly overlapping leaders never deliver one notification twice.
 *   Items with an empty `id` are not remembered one by one; instead a `batchId` makes the whole
 *   call idempotent: publishing the same batch id again publishes nothing and returns the first
 *   call's offsets (a retry must resend the identical batch).
 * - Offsets are strings that sort in publication order within one epoch. The epoch changes
 *   whenever the history was lost.
 * - Subscribers get notifications in offset order, each carrying the offset before it (`prev`),
 *   so a gap is visible; heartbeats carry the last offset, so a gap at the tail is visible too.
 *
 * Imports: nothing (a contract of types; the frame format is protocol/frame.ts).
 */

export interface PublishItem {
  /**
   * Unique id of the notification for dedupe across batches and leaders (an outbox row's uid), or
   * '' for none (plain notifications: one leader session receives each, and the batch id covers
   * its retries, without a dedupe key per notification in Redis).
   */
  id: string;
  /** The client frame without its closing brace (see protocol/frame.frameHead). */
  head: string;
  /** Routing keys (see protocol/filters.routingKeys); `all` is implicit. */
  keys: readonly string[];
  notificationType: string;
  /** Epoch milliseconds the notification entered the system (PG receipt or outbox commit), for latency. */
  sourceTime: number;
}

export interface BusNotification {
  offset: string;
  prev: string;
  keys: readonly string[];
  notificationType: string;
  sourceTime: number;
  /** The complete client frame (UTF-8 JSON), offset included: sent as is to every recipient. */
  frame: string | Buffer;
}

export interface BusHeartbeat {
  epoch: string;
  /** Offset of the newest notification in the history ("0-0" when empty). */
  last: string;
  leader: string;
  at: number;
}

export interface BusHandler {
  onNotification(n: BusNotification): void;
  onHeartbeat(h: BusHeartbeat): void;
  /** Called each time the subscription is (re-)established. */
  onSubscribed?(): void;
  /** Called when the subscription is lost (connection down); live messages may be missed until onSubscribed. */
  onUnsubscribed?(): void;
}

export interface HistoryPage {
  /** Notifications after the requested offset, oldest first. */
  items: BusNotification[];
  /**
   * False when the history no longer reaches back to the requested offset (trimmed, or an
   * offset this history never had): what came right after it is unknown.
   */
  complete: boolean;
}

export interface BusPosition {
  epoch: string | null;
  last: string;
}

export interface Bus {
  /**
   * Leader side. Resolves with one offset per item once the bus has accepted the whole batch.
   * `batchId` (optional): see the contract above.
   */
  publish(items: readonly PublishItem[], batchId?: string): Promise<string[]>;
  /** Leader side: announces liveness and the newest offset. */
  heartbeat(leaderId: string): Promise<void>;
  /** Edge side: registers the handler and subscribes; resolves once subscribed. */
  subscribe(handler: BusHandler): Promise<void>;
  /** Edge side: drops and re-establishes the subscription (handler.onSubscribed runs again). */
  resubscribe(): void;
  /** Current epoch and newest offset. */
  position(): Promise<BusPosition>;
  /** Up to `count` notifications from the history that came after offset `after`. */
  readAfter(after: string, count: number): Promise<HistoryPage>;
  /**
   * When the leader last heartbeated, as the bus itself recorded it (epoch ms), or null when no
   * leader has for a while. Lets an edge tell "no leader" (a cluster matter) from "my
   * subscription is broken" (this edge's matter) when heartbeats stop reaching it.
   */
  leaderHeartbeatAt(): Promise<number | null>;
  close(): Promise<void>;
}

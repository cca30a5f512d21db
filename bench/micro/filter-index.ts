/**
 * Micro-benchmark of the edge's FilterIndex (issue 13 §3): `topicsFor` (runs for every
 * notification), the subscribe path as the edge drives it (topicsOf the held set, acquire the
 * new one, release the old), and topic-name characters per connection.
 *
 *   npx tsx --expose-gc bench/micro/filter-index.ts   # prints one JSON line per case
 *   FILTER_INDEX_MODULE=/path/to/filter-index.ts npx tsx bench/micro/filter-index.ts   # another version
 *
 * Cases: 5,000 connections with `user:<i>` + a shared `entity_type`; 200 connections with 100
 * filters of 256 characters each (`entity:doc:<i>-<j>-xxx…`, as scenario 3b).
 */
import type { FilterIndex as Index } from '../../src/edge/filter-index.js';
import { MAX_FILTER_LENGTH, routingKeys } from '../../src/protocol/filters.js';
import { now, nsPerCall } from './timing.js';

type FilterIndex = Index;
/** Whole ns per call, best of `rounds`. */
const time = (calls: number, rounds: number, fn: (i: number) => void): number => Math.round(nsPerCall(calls, rounds, fn));
const { FilterIndex } = (await import(process.env['FILTER_INDEX_MODULE'] ?? '../../src/edge/filter-index.js')) as { FilterIndex: typeof Index };

/** Subscribes connection's filters one by one, as the edge does (edge.ts moveTopics). */
function subscribeAll(index: FilterIndex, filters: readonly string[]): readonly string[] {
  let held: readonly string[] = [];
  let current: string[] = [];
  for (const f of filters) {
    current = current.concat(f);
    const after = index.acquire(current);
    index.release(held);
    held = after;
  }
  return held;
}

/** Live JS heap after a full GC (needs --expose-gc), else undefined. */
function heapUsed(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const topicChars = (topics: readonly string[]): number => topics.reduce((n, t) => n + t.length, 0);
let sink = 0;

function userPlusType(): void {
  const N = 5000;
  const index = new FilterIndex();
  const t0 = now();
  for (let i = 0; i < N; i++) subscribeAll(index, [`user:${i}`, index.intern('entity_type:execution')]);
  const subscribeMs = now() - t0;
  const sameType = Array.from({ length: 1000 }, (_v, i) =>
    routingKeys({ notification_type: 'execution_status_changed', entity_type: 'execution', entity_id: i, user_id: (i * 7) % N }),
  );
  const otherType = Array.from({ length: 1000 }, (_v, i) =>
    routingKeys({ notification_type: 'inquiry_created', entity_type: 'inquiry', entity_id: i, user_id: (i * 7) % N }),
  );
  const run = (keys: string[][]) => time(200_000, 5, (i) => (sink += index.topicsFor(keys[i % keys.length] as string[]).length));
  console.log(
    JSON.stringify({
      case: `${N} connections, user:<i> + entity_type:execution`,
      topicsFor_ns_shared_type: run(sameType),
      topicsFor_ns_other_type: run(otherType),
      subscribe_us_per_connection: Math.round((subscribeMs * 1000) / N),
      topics: index.size,
    }),
  );
}

function manyLong(): void {
  const N = 200;
  const F = 100;
  const filtersOf = (i: number) => Array.from({ length: F }, (_v, j) => `entity:doc:${i}-${j}-`.padEnd(MAX_FILTER_LENGTH, 'x'));
  // The connections' filters exist before (the edge keeps them): the heap's slope over the second
  // half of the connections is the index's own (a slope: a one-off offset, such as the loader's
  // garbage, does not count).
  const filters = Array.from({ length: N }, (_v, i) => filtersOf(i));
  const index = new FilterIndex();
  let subscribeMs = 0;
  let chars = 0;
  let longest = 0;
  let heapHalf: number | undefined;
  for (let i = 0; i < N; i++) {
    if (i === N / 2) heapHalf = heapUsed();
    const t0 = now();
    const held = subscribeAll(index, filters[i] as string[]);
    subscribeMs += now() - t0;
    chars += topicChars(held);
    for (const t of held) longest = Math.max(longest, t.length);
  }
  const heapEnd = heapUsed();
  const heapPerConnection = heapHalf === undefined || heapEnd === undefined ? undefined : Math.round((heapEnd - heapHalf) / (N / 2));
  if (filters.length !== N) throw new Error('filters must stay alive until here');
  // Notifications for one of a connection's filters (first, middle, last), plus one for nobody.
  const keys = [0, 50, 99, -1].flatMap((j) =>
    Array.from({ length: 100 }, (_v, k) => {
      const i = (k * 13) % N;
      const id = j < 0 ? `none-${k}` : `${i}-${j}-`.padEnd(MAX_FILTER_LENGTH - 'entity:doc:'.length, 'x');
      return routingKeys({ notification_type: 'doc_changed', entity_type: 'doc', entity_id: id, user_id: k });
    }),
  );
  console.log(
    JSON.stringify({
      case: `${N} connections, ${F} filters of ${MAX_FILTER_LENGTH} characters each`,
      topicsFor_ns: time(100_000, 5, (i) => (sink += index.topicsFor(keys[i % keys.length] as string[]).length)),
      subscribe_us_per_filter: Math.round((subscribeMs * 1000) / (N * F)),
      topic_chars_per_connection: Math.round(chars / N),
      longest_topic: longest,
      index_heap_bytes_per_connection: heapPerConnection,
      topics: index.size,
    }),
  );
}

userPlusType();
manyLong();
if (sink < 0) console.log(sink);

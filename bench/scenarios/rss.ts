/**
 * Scenario 3, memory per idle connection, as a slope from a warm server: per subject and variant,
 * restart the server, open WARM connections, settle, read RSS (VmRSS), open ADDED more, settle,
 * read RSS again; the cost per connection is ΔRSS / ADDED. Each connection has its own filter
 * set — `user:<i>` alone, or `user:<i>` plus two filters every client shares — or the shared
 * `all`. Measuring from a warm server leaves out what the first connections cost once (code,
 * buffers, pools), which an empty server would spread over the connections. The load generator
 * runs in separate processes, each from its own 127.0.0.x source address.
 * Every subject runs in its default configuration (notifier: as `notifier edge` starts, with no
 * NODE_OPTIONS).
 * Targets (notifier): ≤ 1.5 KB with one filter, ≤ 2.5 KB with three. The ws + ioredis and
 * Socket.IO 4 peers are measured with one filter only, for comparison.
 */
import type { Measurement, Scenario } from '../lib/scenario.js';
import { round, rssKb } from '../loadgen/measure.js';
import type { FilterSpec } from '../loadgen/messages.js';
import { LoadGen, MAX_PER_WORKER } from '../loadgen/pool.js';
import { sleep } from '../loadgen/producer.js';
import { baselineNotifier } from '../peers/baseline.js';
import { startNotifier } from '../peers/notifier.js';
import { startRawUws } from '../peers/raw-uws-process.js';
import { startSocketIo } from '../peers/socketio-process.js';
import type { Subject } from '../peers/subject.js';
import { startWsIoredis } from '../peers/ws-ioredis-process.js';

const ID = '3-rss';
export const SHARED = ['entity_type:execution', 'notification_type:execution_status_changed'];

export interface Variant {
  label: string;
  filters: FilterSpec;
  target?: number;
  /** Handshakes (upgrade and subscribes) in flight at once per worker (default 100). */
  concurrency?: number;
}

export const ONE_FILTER: Variant = { label: 'one filter', filters: { kind: 'user', shared: [] }, target: 1.5 };
const VARIANTS: Variant[] = [
  // Not a target: the cost of a connection itself, every one in the same set (one uWS topic).
  { label: 'one shared filter (all)', filters: { kind: 'all' } },
  ONE_FILTER,
  { label: 'three filters', filters: { kind: 'user', shared: SHARED }, target: 2.5 },
];

/**
 * The peers run with the young generation notifier sets by default (src/v8-defaults.ts), so that
 * the slopes compare connections, not GC sizing: with Node's default (semi-spaces growing to
 * 16 MB) a peer's young generation alone swung its RSS by ±4 MB between the two readings
 * (raw uWS measured -0.39 KB per connection).
 */
const PEER_NODE_ARGS = ['--max-semi-space-size=1'];

/**
 * Where a notifier connection's bytes go (KB per connection, one filter / three filters), from
 * this scenario's figures, heap snapshots (live objects, Δ over the 10,000 added connections)
 * and the raw uWS peer. Measured on the 2-core machine of RESULTS.md; see bench/README.md.
 */
const BREAKDOWN = [
  "**Where a connection's bytes go** (KB per idle connection, one filter / three filters; before: 7a9d752 as installed, after: 8266cde; JS heap from heap snapshots, live objects only, Δ / 10,000):",
  '',
  '| where | before | after |',
  '|---|---:|---:|',
  "| V8 young generation: Node's default semi-spaces (growing to 16 MB) vs notifier's 1 MB default (src/v8-defaults.ts) | 0.95 / 0.32 | 0 / 0 |",
  '| uWebSockets.js: native socket, topic subscriptions, its socket object (the raw uWS peer, same method) | 0.59 / 0.78 | 0.59 / 0.78 |',
  "| JS heap, live, in all | 0.52 / 1.00 | 0.25 / 0.36 |",
  '| · socket object with its connection fields (uWS copies them onto it: 8 fields → 6) | 0.12 / 0.12 | 0.10 / 0.10 |',
  '| · rate window start, a boxed Date.now() | 0.02 / 0.02 | 0 / 0 |',
  '| · filters array (grown by push: 17 slots; now exactly sized) | 0.18 / 0.18 | 0.06 / 0.07 |',
  "| · stored topic list, with the connection's own copy of its shared topic string | 0.06 / 0.15 | 0 / 0 |",
  "| · the connection's own copies of shared filter strings (now interned) | 0 / 0.10 | 0 / 0 |",
  '| · exclusions map arrays (now read from the topic string) | 0 / 0.06 | 0 / 0 |',
  '| · its `user:<i>` filter and, with three filters, its own topic string | 0.03 / 0.13 | 0.03 / 0.13 |',
  '| · hash tables: open sockets, topic refcounts (now only shared topics), filter → topic, exclusions | 0.11 / 0.22 | 0.07 / 0.07 |',
  '| rest: old-generation garbage of the handshakes until the next mark-compact, heap and malloc slack | 0.45 / 0.70 | 0.49 / 0.44 |',
  "| total (this scenario's slope) | 2.51 / 2.80 | 1.33 / 1.58 |",
  '',
  "With notifier's young generation but the code of 7a9d752, the slope was 1.56 / 2.48 KB. The `rest` row is what a full GC would free: forced at both readings (a test build with --expose-gc), the slope fell by about 0.5 KB per connection.",
].join('\n');

const baseline = baselineNotifier();
/** Each subject with the variants it is measured with (the baseline's, when BENCH_BASELINE is set, like notifier's). */
const SUBJECTS: [() => Promise<Subject>, Variant[]][] = [
  [() => startRawUws(PEER_NODE_ARGS), VARIANTS],
  [() => startNotifier(), VARIANTS],
  ...(baseline ? [[baseline, VARIANTS] as [() => Promise<Subject>, Variant[]]] : []),
  [() => startWsIoredis(PEER_NODE_ARGS), [ONE_FILTER]],
  [() => startSocketIo(PEER_NODE_ARGS), [ONE_FILTER]],
];

export interface Sizes {
  warm: number;
  added: number;
  settleMs: number;
}

/** Opens `count` connections numbered from `firstIndex`; throws when none opened. */
async function openLoad(subject: Subject, v: Variant, firstIndex: number, count: number, log: (m: string) => void) {
  const r = await LoadGen.open({
    host: subject.host,
    port: subject.port,
    path: subject.path,
    mode: subject.mode,
    connections: count,
    firstIndex,
    filters: v.filters,
    workers: Math.max(2, Math.ceil(count / MAX_PER_WORKER)),
    concurrency: v.concurrency ?? 100,
    ...(subject.auth !== undefined && { auth: subject.auth }),
  });
  log(`${subject.name}, ${v.label}: ${r.ready} connections ready in ${r.ms} ms${r.failed ? `, ${r.failed} failed: ${r.errors.join('; ')}` : ''}`);
  if (r.ready === 0) {
    await r.load.close();
    throw new Error(`${subject.name}: no connection could be opened: ${r.errors.join('; ')}`);
  }
  return r;
}

/** One variant's slope on a restarted server (scenario 3, and 3b with the same method). */
export async function measure(subject: Subject, v: Variant, sizes: Sizes, log: (m: string) => void, scenario = ID): Promise<Measurement> {
  await subject.restartServer();
  const pid = subject.serverPid();
  const loads: LoadGen[] = [];
  try {
    const warm = await openLoad(subject, v, 0, sizes.warm, log);
    loads.push(warm.load);
    await sleep(sizes.settleMs);
    const before = rssKb(pid);
    const added = await openLoad(subject, v, sizes.warm, sizes.added, log);
    loads.push(added.load);
    await sleep(sizes.settleMs);
    const after = rssKb(pid);
    const still = (await warm.load.report()).open + (await added.load.report()).open;
    const perConn = (after - before) / added.ready;
    log(`${subject.name}, ${v.label}: RSS ${before} KB → ${after} KB, ${round(perConn)} KB per connection`);
    const isOurs = subject.name === 'notifier';
    const failed = warm.failed + added.failed;
    return {
      scenario,
      subject: subject.name,
      metric: `RSS per idle connection, ${v.label}`,
      value: round(perConn),
      unit: 'KB',
      ...(isOurs && v.target !== undefined ? { target: `≤ ${v.target} KB`, met: perConn <= v.target } : {}),
      note: `${warm.ready} warm + ${added.ready} added connections (${still} still open at the end${failed ? `, ${failed} failed to open` : ''}); RSS ${round(before / 1024, 1)} → ${round(after / 1024, 1)} MiB`,
    };
  } finally {
    for (const load of loads) await load.close();
  }
}

export const rss: Scenario = {
  id: ID,
  title: 'RSS per idle connection, one and three filters per connection (distinct sets), slope from a warm server',
  async run(ctx) {
    const sizes: Sizes = ctx.quick ? { warm: 1000, added: 4000, settleMs: 2000 } : { warm: 2000, added: 10_000, settleMs: 5000 };
    ctx.param?.('connections', `${sizes.warm} warm, then ${sizes.added} more; cost per connection = ΔRSS / ${sizes.added}`);
    ctx.param?.('filters', `all (one shared), user:<i> (one), or user:<i> + ${SHARED.join(' + ')} (three)`);
    ctx.param?.('settle before each reading', `${sizes.settleMs} ms`);
    ctx.param?.('configuration', `notifier edge as started by default (no NODE_OPTIONS); the peers with node ${PEER_NODE_ARGS.join(' ')} (the same young generation)`);
    const out: Measurement[] = [];
    ctx.param?.('subjects', 'raw uWS and notifier with every filter set; ws + ioredis and Socket.IO 4 with one filter');
    for (const [start, variants] of SUBJECTS) {
      const subject = await start();
      try {
        for (const v of variants) out.push(await measure(subject, v, sizes, ctx.log));
      } finally {
        await subject.stop();
      }
    }
    ctx.explain?.(BREAKDOWN);
    return out;
  },
};

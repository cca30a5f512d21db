/**
 * One max-rate fan-out measurement against one subject: connect the clients, drive notifications
 * in with flow control (producer.ts), and count deliveries at the clients over a fixed window
 * after a warm-up. Used by the broadcast and selective scenarios.
 */
import type { Subject } from '../peers/subject.js';
import { cpuOf, percentile, sortedCopy } from './measure.js';
import type { FilterSpec } from './messages.js';
import { LoadGen } from './pool.js';
import { maxRate, sleep } from './producer.js';

export interface FanoutOptions {
  connections: number;
  filters: FilterSpec;
  workers: number;
  sampleEvery: number;
  warmupMs: number;
  windowMs: number;
  /** Notifications in flight beyond the slowest clients (flow control). */
  flowWindow: number;
  maxBatch: number;
  /**
   * selective: notification seq goes to user seq % connections (one recipient each), flow
   * control on total frames; broadcast: every notification to everyone, flow control on the
   * slowest worker's frames per connection.
   */
  pattern: 'broadcast' | 'selective';
  /** Broadcast pattern only: notification seq still carries `user_id` seq % connections (every client matches anyway). */
  perUser?: boolean;
  /**
   * Tenants: notification seq carries `tenant_id` t<seq % tenants>. With `scoped`, client i's
   * token is scoped to tenant t<i % tenants> (so a notification reaches connections / tenants
   * clients; flow control on total frames), else the clients are unscoped and the field is
   * only carried.
   */
  tenants?: number;
  scoped?: boolean;
  /**
   * With `groups` (filters { kind: 'group' }): notification seq carries `user_id` seq % groups and
   * reaches connections / groups clients (the same shape as scoped tenants, through filters).
   */
  groups?: number;
  /**
   * Notification seq carries `bucket` seq % buckets (payload predicates). With filters
   * { kind: 'where', variant: 'selective' } a notification reaches the clients of its bucket only.
   */
  buckets?: number;
  /** After the run, check every client's count of deliveries against what it should have got. */
  checkCounts?: boolean;
  log: (m: string) => void;
}

/** Every client's deliveries against what it should have received (FanoutOptions.checkCounts). */
export interface CountCheck {
  clients: number;
  /** Clients whose count differs from their expected one. */
  wrong: number;
  /** Up to 3 of them: index, got, expected. */
  examples: string[];
}

export interface FanoutResult {
  subject: string;
  connected: number;
  deliveriesPerSec: number;
  notificationsPerSec: number;
  /** Latency of sampled frames in the window (under saturation: mostly queueing). */
  p50: number;
  p99: number;
  /** p50 of the time since the envelope's `timestamp` (notifier: the listener's NOTIFY receipt), ms resolution. */
  p50SinceStamp: number;
  samples: number;
  /** CPU cores used during the window, by process role (the subject's and 'load generator'). */
  cores: Record<string, number>;
  /** After the producer stopped: frames received vs expected (sent × recipients), and closes. */
  delivered: number;
  expected: number;
  closed: Record<string, number>;
  countCheck?: CountCheck;
}

/** Opens the clients on a subject and logs how it went; fails (with them closed) if none connected. */
export async function openClients(
  subject: Subject,
  o: Pick<FanoutOptions, 'connections' | 'filters' | 'workers' | 'sampleEvery' | 'log' | 'tenants' | 'scoped'>,
): Promise<{ load: LoadGen; ready: number }> {
  const { load, ready, failed, errors, ms } = await LoadGen.open({
    host: subject.host,
    port: subject.port,
    path: subject.path,
    mode: subject.mode,
    connections: o.connections,
    filters: o.filters,
    workers: o.workers,
    sampleEvery: o.sampleEvery,
    ...(subject.auth !== undefined && { auth: subject.auth }),
    ...(o.scoped === true && o.tenants !== undefined && { tenants: o.tenants }),
  });
  o.log(`${subject.name}: ${ready} connections ready in ${ms} ms${failed ? `, ${failed} failed: ${errors.join('; ')}` : ''}`);
  if (ready === 0) {
    await load.close();
    throw new Error(`${subject.name}: no connection could be opened: ${errors.join('; ')}`);
  }
  return { load, ready };
}

export async function measureFanout(subject: Subject, o: FanoutOptions): Promise<FanoutResult> {
  const { load, ready } = await openClients(subject, o);
  try {
    // Recipients per notification: everyone, one, or one tenant's / group's / bucket's share.
    const selectiveWhere = o.filters.kind === 'where' && o.filters.variant === 'selective';
    const split = o.scoped === true ? o.tenants : selectiveWhere ? o.buckets : o.groups;
    const perItem = split !== undefined ? ready / split : o.pattern === 'broadcast' ? ready : 1;
    const received = o.pattern === 'broadcast' && split === undefined ? () => load.progress() : () => load.totalProgress() / perItem;
    const driver = maxRate(subject, {
      received,
      changed: () => load.nextProgress(),
      window: o.flowWindow,
      maxBatch: o.maxBatch,
      userOf: o.groups !== undefined ? (seq) => seq % (o.groups as number) : o.pattern === 'selective' || o.perUser === true ? (seq) => seq % ready : undefined,
      tenantOf: o.tenants !== undefined ? (seq) => `t${seq % (o.tenants as number)}` : undefined,
      bucketOf: o.buckets !== undefined ? (seq) => seq % (o.buckets as number) : undefined,
    });
    await sleep(o.warmupMs);
    const roles = { ...subject.processes(), 'load generator': load.pids };
    const cpu = () => Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, cpuOf(pids)]));
    const c0 = cpu();
    const r0 = await load.report(true);
    const t0 = performance.now();
    await sleep(o.windowMs);
    const r1 = await load.report(true);
    const t1 = performance.now();
    const c1 = cpu();
    const sent = await driver.stop();
    // Let what is in flight arrive, to check nothing was lost: while frames still come in (a slow
    // subject takes many seconds to work off the flow-control window), until 10 s without any.
    const expected = sent * perItem;
    let last = await load.report(true);
    for (let idle = 0, waited = 0; last.frames < expected && idle < 10_000 && waited < 120_000; waited += 200) {
      await sleep(200);
      const next = await load.report(true);
      idle = next.frames > last.frames ? 0 : idle + 200;
      last = next;
    }
    let countCheck: CountCheck | undefined;
    if (o.checkCounts === true) {
      // Client i of a selective where gets the seqs of its bucket i % buckets among 0 … sent - 1.
      const buckets = o.buckets ?? 1;
      const want = (i: number) => (selectiveWhere ? Math.max(0, Math.ceil((sent - (i % buckets)) / buckets)) : sent);
      const counts = (await load.report(false, true)).counts ?? [];
      const wrong = counts.filter(([i, got]) => got !== want(i));
      countCheck = { clients: counts.length, wrong: wrong.length, examples: wrong.slice(0, 3).map(([i, got]) => `client ${i}: ${got} of ${want(i)}`) };
    }
    const secs = (t1 - t0) / 1000;
    const deliveries = (r1.frames - r0.frames) / secs;
    const lat = sortedCopy(r1.samples.map((s) => s[0]));
    return {
      subject: subject.name,
      connected: ready,
      deliveriesPerSec: deliveries,
      notificationsPerSec: deliveries / perItem,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      p50SinceStamp: percentile(sortedCopy(r1.samples.map((x) => x[2])), 50),
      samples: lat.length,
      cores: Object.fromEntries(Object.entries(c1).map(([role, v]) => [role, (v - (c0[role] ?? 0)) / secs])),
      delivered: last.frames,
      expected,
      closed: last.closed,
      ...(countCheck && { countCheck }),
    };
  } finally {
    await load.close();
  }
}

/**
 * Scenario 3, memory per idle connection: N idle clients on ONE server process, each with its own
 * filter set — `user:<i>` alone, or `user:<i>` plus two filters every client shares — and the
 * server's RSS (VmRSS) before and after, divided by N. The server is restarted before each
 * variant, so each starts from a fresh process. The load generator runs in separate processes,
 * each from its own 127.0.0.x source address.
 * Targets (notifier): ≤ 1.5 KB with one filter, ≤ 2.5 KB with three. The ws + ioredis and
 * Socket.IO 4 peers are measured with one filter only, for comparison.
 */
import type { Measurement, Scenario } from '../lib/scenario.js';
import { round, rssKb } from '../loadgen/measure.js';
import type { FilterSpec } from '../loadgen/messages.js';
import { LoadGen } from '../loadgen/pool.js';
import { sleep } from '../loadgen/producer.js';
import { startNotifier } from '../peers/notifier.js';
import { startRawUws } from '../peers/raw-uws-process.js';
import { startSocketIo } from '../peers/socketio-process.js';
import type { Subject } from '../peers/subject.js';
import { startWsIoredis } from '../peers/ws-ioredis-process.js';

const ID = '3-rss';
const SHARED = ['entity_type:execution', 'notification_type:execution_status_changed'];

interface Variant {
  label: string;
  filters: FilterSpec;
  target?: number;
}

const ONE_FILTER: Variant = { label: 'one filter', filters: { kind: 'user', shared: [] }, target: 1.5 };
const VARIANTS: Variant[] = [
  // Not a target: the cost of a connection itself, every one in the same set (one uWS topic).
  { label: 'one shared filter (all)', filters: { kind: 'all' } },
  ONE_FILTER,
  { label: 'three filters', filters: { kind: 'user', shared: SHARED }, target: 2.5 },
];

/** Each subject with the variants it is measured with. */
const SUBJECTS: [() => Promise<Subject>, Variant[]][] = [
  [startRawUws, VARIANTS],
  [startNotifier, VARIANTS],
  [startWsIoredis, [ONE_FILTER]],
  [startSocketIo, [ONE_FILTER]],
];

async function measure(subject: Subject, v: Variant, connections: number, settleMs: number, log: (m: string) => void): Promise<Measurement> {
  await subject.restartServer();
  await sleep(settleMs);
  const pid = subject.serverPid();
  const before = rssKb(pid);
  const { load, ready, failed, errors, ms } = await LoadGen.open({
    host: subject.host,
    port: subject.port,
    path: subject.path,
    mode: subject.mode,
    connections,
    filters: v.filters,
    workers: Math.max(2, Math.ceil(connections / 5000)),
    concurrency: 100,
  });
  try {
    log(`${subject.name}, ${v.label}: ${ready} connections ready in ${ms} ms${failed ? `, ${failed} failed: ${errors.join('; ')}` : ''}`);
    if (ready === 0) throw new Error(`${subject.name}: no connection could be opened: ${errors.join('; ')}`);
    await sleep(settleMs);
    const after = rssKb(pid);
    const still = (await load.report()).open;
    const perConn = (after - before) / ready;
    log(`${subject.name}, ${v.label}: RSS ${before} KB → ${after} KB, ${round(perConn)} KB per connection`);
    const isOurs = subject.name === 'notifier';
    return {
      scenario: ID,
      subject: subject.name,
      metric: `RSS per idle connection, ${v.label}`,
      value: round(perConn),
      unit: 'KB',
      ...(isOurs && v.target !== undefined ? { target: `≤ ${v.target} KB`, met: perConn <= v.target } : {}),
      note: `${ready} connections (${still} still open at the end${failed ? `, ${failed} failed to open` : ''}); RSS ${round(before / 1024, 1)} → ${round(after / 1024, 1)} MiB`,
    };
  } finally {
    await load.close();
  }
}

export const rss: Scenario = {
  id: ID,
  title: 'RSS per idle connection, one and three filters per connection (distinct sets)',
  async run(ctx) {
    const connections = ctx.quick ? 4000 : 19_800;
    const settleMs = ctx.quick ? 2000 : 5000;
    ctx.param?.('connections', connections);
    ctx.param?.('filters', `all (one shared), user:<i> (one), or user:<i> + ${SHARED.join(' + ')} (three)`);
    ctx.param?.('settle before each reading', `${settleMs} ms`);
    ctx.param?.('load generator processes', Math.max(2, Math.ceil(connections / 5000)));
    const out: Measurement[] = [];
    ctx.param?.('subjects', 'raw uWS and notifier with every filter set; ws + ioredis and Socket.IO 4 with one filter');
    for (const [start, variants] of SUBJECTS) {
      const subject = await start();
      try {
        for (const v of variants) out.push(await measure(subject, v, connections, settleMs, ctx.log));
      } finally {
        await subject.stop();
      }
    }
    return out;
  },
};

/**
 * One reconnect-storm load-generator process (forked by storm-pool.ts): opens up to a few
 * thousand StormClients through one load balancer, reports their counts every 100 ms while they
 * change, and at the end which seqs each client missed or got twice, and its outage times.
 */
import { StormClient, newStats } from './storm-client.js';
import type { Check, FromStormWorker, StormReport, StormSpec, ToStormWorker } from './storm-messages.js';
import { inLanes } from './lanes.js';
import { mintTokens } from './tokens.js';

const SHARED = Buffer.allocUnsafe(256 * 1024);

const stats = newStats();
const clients: StormClient[] = [];

function send(msg: FromStormWorker): void {
  process.send?.(msg);
}

async function openAll(spec: StormSpec): Promise<void> {
  const tokens = spec.auth ? await mintTokens(spec.auth, { kind: 'all' }, Array.from({ length: spec.count }, (_v, i) => spec.firstIndex + i)) : undefined;
  const started = Date.now();
  const table = new Uint8Array(spec.count * spec.capacity);
  let ready = 0;
  let failed = 0;
  await inLanes(spec.count, spec.concurrency, (i) => {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        failed++;
        client.stop();
        resolve();
      }, spec.openTimeoutMs);
      const client = new StormClient(
        spec,
        table.subarray(i * spec.capacity, (i + 1) * spec.capacity),
        stats,
        SHARED,
        () => {
          clearTimeout(timer);
          ready++;
          resolve();
        },
        tokens?.get(spec.firstIndex + i),
      );
      clients.push(client);
      client.connect();
    });
  });
  const errors = Object.entries({ ...stats.failures, ...Object.fromEntries(Object.entries(stats.refused).map(([k, n]) => [`HTTP ${k}`, n])) }).map(([k, n]) => `${n}× ${k}`);
  send({ t: 'opened', ready, failed, errors, ms: Date.now() - started });
}

function check(produced: number): Check {
  let missing = 0;
  let duplicated = 0;
  for (const c of clients) {
    const n = Math.min(produced, c.counts.length);
    for (let s = 0; s < n; s++) {
      const k = c.counts[s] as number;
      if (k === 0) missing++;
      else if (k > 1) duplicated += k - 1;
    }
    missing += produced - n;
  }
  return { missing, duplicated };
}

function report(produced: number): StormReport {
  const nodes: Record<string, number> = {};
  for (const c of clients) if (c.live) nodes[c.node] = (nodes[c.node] ?? 0) + 1;
  let beyond = stats.beyond;
  for (const c of clients) for (let s = produced; s < c.counts.length; s++) beyond += c.counts[s] as number;
  const { armed: _armed, dirty: _dirty, live: _live, dropped: _dropped, back: _back, ...counters } = stats;
  return { clients: clients.length, ...check(produced), outages: clients.map((c) => c.outage), ...counters, beyond, nodes };
}

setInterval(() => {
  if (!stats.dirty) return;
  stats.dirty = false;
  send({ t: 'progress', live: stats.live, dropped: stats.dropped, back: stats.back });
}, 100);

process.on('message', (msg: ToStormWorker) => {
  switch (msg.t) {
    case 'open':
      void openAll(msg.spec);
      break;
    case 'arm':
      stats.armed = true;
      send({ t: 'armed', id: msg.id });
      break;
    case 'check':
      send({ t: 'checked', id: msg.id, ...check(msg.produced) });
      break;
    case 'report':
      send({ t: 'report', id: msg.id, ...report(msg.produced) });
      break;
    case 'exit':
      for (const c of clients) c.stop();
      process.exit(0);
  }
});
// The parent is gone (or closed the channel): the kernel closes every socket with the process.
process.on('disconnect', () => process.exit(0));

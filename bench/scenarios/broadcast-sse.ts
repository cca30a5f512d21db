/**
 * Scenario 1s, SSE against WebSocket (issue 15 §3): one edge (NOTIFIER_AUTH=jwt), N clients on
 * `all`, notifications at max rate, trials alternating on the same edge (fresh clients each):
 *
 * - WebSocket: `GET /ws` + subscribe (as scenario 1): uWS' native publish writes the frame;
 * - SSE: `GET /sse?filter=all&token=…` on raw sockets (loadgen/sse-client.ts), events
 *   `id: <epoch>/<offset>\ndata: <json>\n\n` counted at the clients.
 *
 * Deliveries/s, notifications/s and saturated latency of each, and every client's count checked
 * after the producer stopped. No numeric target: the issue asks for the comparison, same edge,
 * same run.
 */
import type { Scenario } from '../lib/scenario.js';
import { measureFanout, type FanoutOptions, type FanoutResult } from '../loadgen/fanout.js';
import { loadAverage, round } from '../loadgen/measure.js';
import { startNotifier } from '../peers/notifier.js';
import type { Subject } from '../peers/subject.js';
import { countNote, edgeMicrosPerDelivery } from './broadcast-predicates.js';
import { broadcastFlowWindow, fanoutRows, median } from './broadcast.js';

const ID = '1s-broadcast-sse';

/** Earlier runs, and where the SSE time goes (profile and syscall count of the edge, 2026-12-03, bench 13365f0 with sse 3395abb). */
const EARLIER = [
  '**Earlier runs, before SSE writes were batched** (deliveries/s per trial; the section above is the last run, after; machine shared with other test runs, load average 12–19 on 2 cores). ' +
    'Run 1 (14:54 UTC): WebSocket 792,087 and 679,806, SSE 17,363 and 52,003: SSE / WebSocket 0.066 (medians); edge CPU per delivery SSE 9.59 µs, WebSocket 0.46 µs. ' +
    'Run 2 (14:59 UTC): WebSocket 275,376 and 819,837, SSE 21,313 and 22,760: 0.028; 9.07 µs against 0.47 µs. Run 3 (15:10 UTC, load average ~12): WebSocket ' +
    '1,250,320 and 1,233,372, SSE 54,923 and 58,481: 0.047; 7.83 µs against 0.37 µs. Runs 1–3 on sse 3395abb; the last run on sse 861629b (the same write path). ' +
    'Every client of every trial got exactly its count.',
  '',
  '**Where the SSE time went before the batching.** A CPU profile of the edge during one SSE trial (BENCH_SSE_ONLY=SSE BENCH_PROFILE_DIR=…: 37,549 deliveries/s, edge 0.4 cores): ' +
    '83 % of its busy samples are in `SseConnections.write` (src/edge/sse-connections.ts: `res.cork(() => res.write(event))` per stream and notification; uWS\' native ' +
    'cork and write count as its self time), 3.2 % in `fanout`\'s loop, 2.1 % GC, the rest token checks of the connects. Counting the edge\'s syscalls for 5 s (`strace -c -f`, ' +
    'same edge, 5,000 clients each way): SSE made 64,970 `sendto` for 68,958 deliveries (one per delivery: each cork ends in its own send), WebSocket 68,545 `sendto` for ' +
    '2,552,872 deliveries (37 per send: uWS\' native publish coalesces the frames a socket is due, so a bus batch of notifications goes out in few sends per ' +
    'socket). So SSE costs ~9 µs of edge CPU per delivery against ~0.4 µs, ~45 ms per broadcast notification to 5,000 streams (about 20 such notifications/s ' +
    'per core). Fixed since (sse-connections.ts): each stream\'s events are queued and written once per event-loop turn, ' +
    'one concatenation for every run of streams with the same queue: 0.25 µs of edge CPU per SSE delivery, SSE 1.46× WebSocket deliveries/s (events need no per-socket framing).',
].join('\n');

type Variant = 'WebSocket' | 'SSE';

export const broadcastSse: Scenario = {
  id: ID,
  title: 'SSE against WebSocket: N clients on `all` on one edge, max rate, same run',
  async run(ctx) {
    const connections = ctx.quick ? 1000 : 5000;
    const trials = Number(process.env['BENCH_SSE_TRIALS'] ?? (ctx.quick ? 1 : 2));
    const o: FanoutOptions = {
      connections,
      filters: { kind: 'all' },
      workers: 2,
      sampleEvery: 100,
      warmupMs: ctx.quick ? 2000 : 3000,
      windowMs: ctx.quick ? 5000 : 6000,
      flowWindow: broadcastFlowWindow(connections),
      maxBatch: 50,
      pattern: 'broadcast',
      checkCounts: true,
      log: ctx.log,
    };
    ctx.param?.('connections', `${connections}, on \`all\``);
    ctx.param?.('edge', 'NOTIFIER_AUTH=jwt (HS256, a token per client with `all`: WebSocket in `Authorization: Bearer`, SSE in `?token=`), default configuration');
    ctx.param?.('clients', 'raw `net` sockets in 2 load-generator processes + 1 for the sampled connections (WebSocket: frames counted; SSE: the chunked body de-framed, events with a `data:` line and no `event:` line counted, so `retry:`, `event: welcome` and heartbeats are not)');
    ctx.param?.('trials', `${trials} per transport, alternating WebSocket, SSE on one edge (fresh clients each), median reported`);
    ctx.param?.('flow control', `≤ ${o.flowWindow} notifications in flight beyond the slowest clients, batches ≤ ${o.maxBatch} (as scenario 1)`);
    ctx.param?.('warm-up / window', `${o.warmupMs} ms / ${o.windowMs} ms; latency sampled on 1 in ${o.sampleEvery} connections`);
    ctx.param?.('load average at the start', loadAverage());

    // BENCH_SSE_ONLY=SSE runs one transport only, e.g. to profile it (BENCH_PROFILE_DIR).
    const only = (process.env['BENCH_SSE_ONLY'] ?? '').split(',').filter(Boolean);
    const ws = await startNotifier();
    const sse: Subject = { ...ws, name: 'notifier SSE', mode: 'sse', path: '/sse' };
    const results: Record<Variant, FanoutResult[]> = { WebSocket: [], SSE: [] };
    try {
      for (let t = 0; t < trials; t++) {
        for (const [label, subject] of [['WebSocket', ws], ['SSE', sse]] as const) {
          if (only.length > 0 && !only.includes(label)) continue;
          const r = await measureFanout(subject, o);
          const c = r.countCheck;
          ctx.log(
            `notifier (${label}) trial ${t + 1}/${trials}: ${Math.round(r.deliveriesPerSec)} deliveries/s, p50 ${round(r.p50)} ms, p99 ${round(r.p99)} ms, ` +
              `edge ${round(r.cores['edge'] ?? 0)} cores; counts: ${c ? `${c.wrong} of ${c.clients} wrong ${c.examples.join('; ')}` : 'not checked'}`,
          );
          results[label].push(r);
        }
      }
    } finally {
      await ws.stop();
    }
    const note = (rs: FanoutResult[]) => (rs.length > 1 ? `median of ${rs.length} trials: ${rs.map((r) => Math.round(r.deliveriesPerSec)).join(', ')}; ` : '') + `${countNote(rs)}; `;
    const w = median(results.WebSocket);
    const s = median(results.SSE);
    const cores = (r: FanoutResult) => Object.entries(r.cores).map(([k, v]) => `${k} ${round(v)}`).join(', ');
    const all = [...results.WebSocket, ...results.SSE];
    ctx.explain?.(
      `**Where the deliveries are written.** WebSocket: one native uWS publish per notification writes the frame to every subscribed socket in C++ ` +
        `(${Math.round(w.deliveriesPerSec / 1000)}k deliveries/s; CPU cores: ${cores(w)}). SSE: the edge queues each stream's events and writes them once per event-loop turn from JavaScript, one concatenation shared by the streams with the same queue ` +
        `(${Math.round(s.deliveriesPerSec / 1000)}k deliveries/s; CPU cores: ${cores(s)}).`,
    );
    ctx.explain?.(EARLIER);
    return [
      ...fanoutRows(ID, { ...s, subject: 'notifier, SSE' }, undefined, note(results.SSE)),
      ...fanoutRows(ID, { ...w, subject: 'notifier, WebSocket' }, undefined, note(results.WebSocket)),
      { scenario: ID, subject: 'notifier, SSE', metric: 'ratio to WebSocket (medians)', value: round(s.deliveriesPerSec / w.deliveriesPerSec, 3), unit: '×', note: 'same edge, same run, alternating trials' },
      { scenario: ID, subject: 'notifier, SSE', metric: 'edge CPU per delivery', value: round(edgeMicrosPerDelivery(results.SSE), 3), unit: 'µs', note: 'median of the trials: edge CPU time / deliveries' },
      { scenario: ID, subject: 'notifier, WebSocket', metric: 'edge CPU per delivery', value: round(edgeMicrosPerDelivery(results.WebSocket), 3), unit: 'µs' },
      { scenario: ID, subject: 'notifier', metric: 'clients with a wrong count', value: all.reduce((n, r) => n + (r.countCheck?.wrong ?? 0), 0), unit: '', target: '0', met: all.every((r) => r.countCheck?.wrong === 0) },
    ];
  },
};

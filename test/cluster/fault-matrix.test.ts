/**
 * The fault matrix (issue 3, DESIGN §7): 2 listeners, 3 edges behind HAProxy (round robin, no
 * stickiness; NOTIFIER_AUTH=jwt, as deployed), 50 resilient clients with mixed, overlapping filters
 * connecting and reconnecting only through HAProxy, each with its own token (the three carriers
 * and claim shapes mixed: fleet.ts), and a producer committing 1,000 outbox notifications at a
 * steady rate.
 * Each case injects one fault mid-stream and asserts, per client: nothing missing, nothing
 * duplicated, order kept. Each prints one line: sent/expected/received/missing/duplicated/….
 *
 * One case:  npm run test:cluster -- test/cluster/fault-matrix.test.ts -t "a. SIGKILL the leader"
 * Longer:    npm run bench:soak
 */
import { afterEach, describe, expect, it } from 'vitest';
import { produce } from '../helpers/producer.js';
import { expectedSeqs, mixedFilters, startFleet, startHarness, type Fleet, type FleetClient, type Harness, type HarnessOptions } from './harness.js';

// bench/soak.sh runs the same matrix longer and wider through these variables.
const COUNT = Number(process.env['NOTIFIER_MATRIX_COUNT'] ?? 1000);
const CLIENTS = Number(process.env['NOTIFIER_MATRIX_CLIENTS'] ?? 50);
const INTERVAL_MS = Number(process.env['NOTIFIER_MATRIX_INTERVAL_MS'] ?? 4);
/** The fault starts after this many notifications were committed. */
const FAULT_AT = Math.floor(COUNT * 0.3);

let h: Harness | undefined;
let fleet: Fleet | undefined;

afterEach(async () => {
  await fleet?.stop();
  await h?.stop();
  fleet = undefined;
  h = undefined;
});

const filtersFor = (i: number) => mixedFilters(i, COUNT);

const expectedFor = (c: FleetClient) => expectedSeqs(c.filters, COUNT, 'seq');

interface CaseOptions {
  harness?: HarnessOptions;
  burst?: { at: number; size: number; padBytes: number };
  /** Runs once FAULT_AT notifications are committed, concurrently with the producer. */
  fault: (h: Harness) => Promise<void>;
  /** Expect clients to have been reset (history lost): then only what follows the reset is owed. */
  expectReset?: boolean;
}

/** Runs one case and returns the fleet report; prints its line. */
async function runCase(label: string, opts: CaseOptions) {
  const started = Date.now();
  h = await startHarness({ listeners: 2, edges: 3, ...opts.harness });
  const harness = h;
  expect(harness.auth).toBe('jwt');
  fleet = await startFleet(harness, CLIENTS, filtersFor);
  let faultDone: Promise<void> | undefined;
  let faultError: unknown;
  let sent = 0;
  let owedFrom = 0;
  const f = fleet;
  /** With a reset expected: once every client was reset and is live again, all that follows is owed. */
  const afterFault = async () => {
    if (!opts.expectReset) return;
    const back = await Promise.all(f.clients.map((c) => c.waitUntil(() => c.resets >= 1 && c.live, 30_000)));
    expect(back.every(Boolean)).toBe(true);
    owedFrom = sent;
  };
  const produced = await produce({
    databaseUrl: harness.pg.url,
    count: COUNT,
    intervalMs: INTERVAL_MS,
    entityType: 'seq',
    resilient: true,
    burst: opts.burst,
    onSent: (n) => {
      sent = n;
      if (n === FAULT_AT) faultDone = opts.fault(harness).then(afterFault).catch((err: unknown) => void (faultError = err));
    },
  });
  await faultDone;
  expect(faultError).toBeUndefined();
  if (opts.expectReset) expect(owedFrom, 'the reset must leave notifications to deliver after it').toBeLessThan(COUNT - 100);
  // With a reset, what was committed between the fault and the clients' return is not owed.
  const owed = (c: FleetClient) => expectedFor(c).filter((s) => s >= owedFrom || s < FAULT_AT - 50);
  const complete = await fleet.waitForSeqs(owed, 60_000);
  const report = fleet.report(expectedFor);
  console.log(`${report.line(label, produced.sent)} producerRetries=${produced.retries} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (!complete || (!opts.expectReset && !report.ok)) console.log(harness.diagnostics());
  // Every connection, reconnects included, was its client's token's.
  for (const c of fleet.clients) expect(new Set(c.userIds), `client ${c.index} (${c.credentials?.carrier})`).toEqual(new Set([`fleet-${c.index}`]));
  return { report, complete, harness, lostWindow: [FAULT_AT - 50, owedFrom] as const };
}

function expectNoLoss(r: Awaited<ReturnType<typeof runCase>>) {
  for (const c of r.report.clients) {
    expect({ client: c.client, missing: c.missing, duplicated: c.duplicated, outOfOrder: c.outOfOrder, unexpected: c.unexpected }).toEqual({
      client: c.client,
      missing: [],
      duplicated: [],
      outOfOrder: 0,
      unexpected: [],
    });
  }
  expect(r.complete).toBe(true);
}

describe('fault matrix', () => {
  it('a. SIGKILL the leader', async () => {
    const r = await runCase('a. SIGKILL leader', {
      fault: async (hh) => {
        const leader = await hh.leaderIndex();
        await hh.killListener(leader, 'SIGKILL');
        await hh.waitLeader(10_000);
      },
    });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
  });

  it('b. SIGTERM the leader: hand-over under 1.5 s', async () => {
    let handOverMs = 0;
    const r = await runCase('b. SIGTERM leader', {
      fault: async (hh) => {
        const leader = await hh.leaderIndex();
        const other = hh.listeners.findIndex((_, i) => i !== leader);
        const before = hh.listeners[other]!.logs.length;
        const t0 = Date.now();
        void hh.killListener(leader, 'SIGTERM');
        await hh.listeners[other]!.waitForEvent('leader:listen:success', 5000, before);
        handOverMs = Date.now() - t0;
      },
    });
    console.log(`b. hand-over took ${handOverMs} ms`);
    expectNoLoss(r);
    expect(handOverMs).toBeLessThan(1500);
  });

  it('c. restart PostgreSQL', async () => {
    const r = await runCase('c. restart PostgreSQL', { fault: (hh) => hh.pg.restart('fast') });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
  });

  it('d1. restart Redis with AOF (appendfsync always): clients resume', async () => {
    const r = await runCase('d1. restart Redis, AOF', {
      harness: { redisAof: true, redisArgs: ['--appendfsync', 'always'] },
      fault: async (hh) => {
        await hh.redis.kill();
        await hh.redis.start();
      },
    });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
  });

  it('d2. restart Redis without persistence: clients get reset, then everything after it', async () => {
    const r = await runCase('d2. restart Redis, no persistence', {
      expectReset: true,
      fault: async (hh) => {
        await hh.redis.kill();
        await hh.redis.start();
      },
    });
    const [lostFrom, lostTo] = r.lostWindow;
    for (const c of r.report.clients) {
      // Only what was committed while Redis was gone and the client not yet reset may be missing.
      expect({ client: c.client, duplicated: c.duplicated, outOfOrder: c.outOfOrder, unexpected: c.unexpected }).toEqual({
        client: c.client,
        duplicated: [],
        outOfOrder: 0,
        unexpected: [],
      });
      expect(c.missing.filter((s) => s < lostFrom || s >= lostTo), `client ${c.client} missing outside the reset window`).toEqual([]);
      expect(c.missingAfterLastReset, `client ${c.client}`).toEqual([]);
      expect(c.resets, `client ${c.client}`).toBeGreaterThanOrEqual(1);
    }
    expect(r.complete).toBe(true);
  });

  it('e. SIGKILL one edge: its clients come back through HAProxy on the others and resume', async () => {
    const r = await runCase('e. SIGKILL edge', {
      fault: async (hh) => {
        await hh.killEdge(0, 'SIGKILL');
        await hh.lb.waitServer(0, 'DOWN', 5000);
      },
    });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
    expect(r.report.reconnects).toBeGreaterThan(0);
  });

  it('f. rolling restart of every edge', async () => {
    const r = await runCase('f. rolling restart', {
      harness: { edgeEnv: { NOTIFIER_DRAIN_SECONDS: '0.3' } },
      fault: async (hh) => {
        for (let i = 0; i < hh.edges.length; i++) {
          await hh.killEdge(i, 'SIGTERM');
          await hh.startEdge(i);
          await hh.lb.waitServer(i, 'UP', 10_000);
        }
      },
    });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
  });

  it('g. black-hole the leader’s PostgreSQL link: detected and failed over within the deadline', async () => {
    let failoverMs = 0;
    const r = await runCase('g. blackhole leader link', {
      harness: { pgProxy: true },
      fault: async (hh) => {
        const leader = await hh.leaderIndex();
        const other = hh.listeners.findIndex((_, i) => i !== leader);
        const before = hh.listeners[other]!.logs.length;
        const t0 = Date.now();
        hh.pgProxy!.blackhole(leader);
        await hh.listeners[leader]!.waitForEvent('leader:released', 10_000);
        await hh.listeners[other]!.waitForEvent('leader:listen:success', 15_000, before);
        failoverMs = Date.now() - t0;
      },
    });
    console.log(`g. failover took ${failoverMs} ms`);
    expectNoLoss(r);
    expect(failoverMs).toBeLessThan(10_000);
  });

  it('h. a tiny pubsub output buffer limit makes Redis drop the edges’ subscribers: they backfill', async () => {
    const r = await runCase('h. pubsub buffer limit', {
      // A burst of 200 × 2 KB committed at once: one publish batch that overflows a subscriber's
      // fixed reply buffer and so its tiny pubsub limit.
      burst: { at: FAULT_AT + 10, size: 200, padBytes: 2048 },
      fault: async (hh) => {
        await hh.redis.config('client-output-buffer-limit', 'pubsub 1kb 0 0');
        await hh.edges[0]!.waitForEvent('edge:bus:subscribed', 15_000, hh.edges[0]!.logs.findLastIndex((l) => l.event === 'edge:bus:subscribed') + 1);
        await hh.redis.config('client-output-buffer-limit', 'pubsub 32mb 8mb 60');
      },
    });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
    // It did bite: edges re-subscribed and backfilled what Redis had dropped.
    const backfills = r.harness.edges.flatMap((e) => e.logs.filter((l) => l.event === 'edge:backfill:done'));
    expect(backfills.length).toBeGreaterThan(0);
  });

  it('i. SIGTERM one edge: its clients get 1012 within NOTIFIER_DRAIN_SECONDS and resume on another edge at once', async () => {
    const DRAIN_MS = 2000;
    let victims: FleetClient[] = [];
    let victimNode: string | undefined;
    let t0 = 0;
    let exitCode: number | null | undefined;
    const r = await runCase('i. SIGTERM edge (drain)', {
      harness: { edgeEnv: { NOTIFIER_DRAIN_SECONDS: String(DRAIN_MS / 1000) } },
      fault: async (hh) => {
        victimNode = (await hh.edgeNodes())[0];
        victims = fleet?.clients.filter((c) => c.live && c.node === victimNode) ?? [];
        t0 = Date.now();
        exitCode = await hh.killEdge(0, 'SIGTERM');
      },
    });
    expectNoLoss(r);
    expect(r.report.resets).toBe(0);
    expect(exitCode).toBe(0);
    expect(victims.length, 'round robin puts some clients on edge 0').toBeGreaterThan(0);
    const timings = victims.map((c) => {
      const close = c.closeLog.find((e) => e.at >= t0);
      const back = close ? c.welcomeTimes.find((at) => at >= close.at) : undefined;
      const backNode = back === undefined ? undefined : c.nodes[c.welcomeTimes.indexOf(back)];
      return { client: c.index, code: close?.code, closedAfterMs: close ? close.at - t0 : undefined, backAfterMs: close && back ? back - close.at : undefined, backNode };
    });
    const worst = (k: 'closedAfterMs' | 'backAfterMs') => Math.max(...timings.map((t) => t[k] ?? Infinity));
    console.log(`i. ${victims.length} clients drained: last 1012 after ${worst('closedAfterMs')} ms, slowest back after ${worst('backAfterMs')} ms`);
    for (const t of timings) {
      expect(t.code, `client ${t.client}`).toBe(1012);
      // The window plus scheduling slack on a shared 2-core machine.
      expect(t.closedAfterMs, `client ${t.client}`).toBeLessThanOrEqual(DRAIN_MS + 1000);
      // Back at once: the first reconnect attempt (50 ms back-off, jittered) reaches another edge.
      expect(t.backAfterMs, `client ${t.client}`).toBeLessThan(1500);
      expect(t.backNode, `client ${t.client}`).not.toBe(victimNode);
    }
  });
});

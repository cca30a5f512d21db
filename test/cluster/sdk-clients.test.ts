/**
 * The client SDK in a real cluster (issue 15 §1): 2 listeners, 3 edges behind HAProxy (round robin,
 * no stickiness, NOTIFIER_AUTH=jwt), 20 `NotifierClient`s (sdk-fleet.ts) with mixed filters (`all`,
 * `entity_type:T`, `user:<id>`, two overlapping ones), each fetching a fresh token per connect. A
 * producer commits a numbered sequence through the outbox without pause while (1) the edge with
 * the most clients is SIGKILLed, then started again, and (2) every edge in turn is SIGTERMed
 * (drained: 1012), started again and marked UP by HAProxy: a rolling restart.
 *
 * Then every handler must hold exactly the notifications its filter matches, computed from what
 * was published: 0 lost, 0 duplicated, in offset order. The SDK resumes by itself; a `reset` would
 * mean history was lost, and fails the test.
 *
 *   npm run build && npx vitest run --project cluster test/cluster/sdk-clients.test.ts
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/client/index.js';
import { compareOffsets, isOffset } from '../../src/protocol/offsets.js';
import { produce } from '../helpers/producer.js';
import { startHarness, type Harness } from './harness.js';
import { startSdkFleet, type SdkClient, type SdkFleet, type TappedConnection } from './sdk-fleet.js';

const CLIENTS = 20;
const COUNT = 1600;
const INTERVAL_MS = 8;
/** The faults start once this many notifications are committed. */
const FAULT_AT = 200;
/**
 * If the faults are still running when only this many notifications remain, the producer waits
 * for them to end (and says so): the last ones are always committed after the rolling restart.
 */
const TAIL = 300;
const CHANNEL = 'seq_event';
const TYPES = ['alpha', 'beta', 'gamma'];

/** Client i's filters: the user filters name the client's own token subject (fleet-<i>), always allowed. */
function filtersFor(i: number): string[] {
  switch (i % 5) {
    case 0:
      return ['all'];
    case 1:
      return ['entity_type:alpha'];
    case 2:
      return [`user:fleet-${i}`];
    case 3:
      return ['entity_type:beta', `user:fleet-${i}`];
    default:
      return ['all', 'entity_type:gamma'];
  }
}

const USERS = Array.from({ length: CLIENTS }, (_, i) => i)
  .filter((i) => filtersFor(i).some((f) => f.startsWith('user:')))
  .map((i) => `fleet-${i}`);

/** Notification `seq`'s payload fields besides entity_id and seq: an entity type, and a user for four in five. */
function fieldsOf(seq: number): { entity_type: string; user_id?: string } {
  const entityType = TYPES[seq % TYPES.length] as string;
  return seq % 5 === 4 ? { entity_type: entityType } : { entity_type: entityType, user_id: USERS[seq % USERS.length] as string };
}

/** The seqs `filter` matches among 0..count-1, in order (the filter kinds of the README's table). */
function expectedFor(filter: string, count: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < count; s++) {
    const f = fieldsOf(s);
    const keys = ['all', `notification_type:${CHANNEL}`, `entity_type:${f.entity_type}`, `entity:${f.entity_type}:${s}`];
    if (f.user_id !== undefined) keys.push(`user:${f.user_id}`);
    if (keys.includes(filter)) out.push(s);
  }
  return out;
}

const seqOf = (n: Notification) => Number((n.payload as { seq?: unknown } | null)?.seq);

/** One handler's list against what it is owed. */
function handlerReport(got: Notification[], expected: number[]) {
  const seqs = got.map(seqOf);
  const counts = new Map<number, number>();
  for (const s of seqs) counts.set(s, (counts.get(s) ?? 0) + 1);
  const owed = new Set(expected);
  let outOfOrder = 0;
  for (let k = 1; k < got.length; k++) {
    const [a, b] = [got[k - 1]?.offset, got[k]?.offset];
    if (!isOffset(a) || !isOffset(b) || compareOffsets(b, a) <= 0 || (seqs[k] ?? 0) <= (seqs[k - 1] ?? 0)) outOfOrder += 1;
  }
  return {
    received: got.length,
    missing: expected.filter((s) => !counts.has(s)).slice(0, 20),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([s]) => s).slice(0, 20),
    unexpected: [...counts.keys()].filter((s) => !owed.has(s)).slice(0, 20),
    outOfOrder,
    exact: seqs.length === expected.length && seqs.every((s, k) => s === expected[k]),
  };
}

/** A tapped connection, printable. */
const wire = (k: TappedConnection) => ({ ...k, subscribed: [...k.subscribed], livedMs: (k.closedAt ?? Date.now()) - k.openedAt });

let h: Harness | undefined;
let fleet: SdkFleet | undefined;

afterAll(async () => {
  await fleet?.stop();
  await h?.stop();
});

describe('SDK clients in a cluster', () => {
  it('20 NotifierClients through HAProxy across an edge SIGKILL and a rolling restart: 0 lost, 0 duplicated, order kept, no reset', async () => {
    const t0 = Date.now();
    h = await startHarness({ listeners: 2, edges: 3, edgeEnv: { NOTIFIER_DRAIN_SECONDS: '0.3' } });
    const harness = h;
    expect(harness.auth).toBe('jwt');
    const tHarness = Date.now();
    fleet = await startSdkFleet(harness.lb.url, CLIENTS, filtersFor);
    const f = fleet;
    const tFleet = Date.now();

    // Round robin without stickiness: the clients are spread over the edges.
    const nodes = await harness.edgeNodes();
    const spread = f.spread();
    const perEdge = nodes.map((n) => (n === undefined ? 0 : (spread.get(n) ?? 0)));
    expect(perEdge.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    expect(perEdge.filter((n) => n > 0).length).toBeGreaterThan(1);
    const victim = perEdge.indexOf(Math.max(...perEdge));
    const victims = f.clients.filter((c) => c.node === nodes[victim]);

    const marks: Record<string, number> = {};
    let sent = 0;
    const mark = (what: string) => (marks[what] = sent);
    let tRoll = 0;
    const drainExits: (number | null)[] = [];
    const faults = async () => {
      // (1) SIGKILL: its clients see 1006 and come back through HAProxy on the other edges.
      mark('kill');
      await harness.killEdge(victim, 'SIGKILL');
      await harness.lb.waitServer(victim, 'DOWN', 5000);
      if (!(await f.waitAll((c) => c.live, 20_000))) throw new Error('clients not live again after the SIGKILL');
      mark('killRecovered');
      await harness.startEdge(victim);
      await harness.lb.waitServer(victim, 'UP', 10_000);
      mark('killRestarted');
      // (2) Rolling restart: each edge drains (1012), exits, starts again, and is UP before the next.
      tRoll = Date.now();
      for (let i = 0; i < harness.edges.length; i++) {
        drainExits.push(await harness.killEdge(i, 'SIGTERM'));
        await harness.startEdge(i);
        await harness.lb.waitServer(i, 'UP', 10_000);
      }
      mark('rolled');
    };
    let faultsDone: Promise<void> | undefined;
    let faultsEnded = false;
    let faultError: unknown;
    let pausedMs = 0;
    const produced = await produce({
      databaseUrl: harness.pg.url,
      count: COUNT,
      intervalMs: INTERVAL_MS,
      entityType: 'unused',
      channel: CHANNEL,
      resilient: true,
      fields: fieldsOf,
      onSent: async (n) => {
        sent = n;
        if (n === FAULT_AT) faultsDone = faults().catch((err: unknown) => void (faultError = err)).finally(() => (faultsEnded = true));
        if (n === COUNT - TAIL && !faultsEnded) {
          const before = Date.now();
          await faultsDone;
          pausedMs = Date.now() - before;
        }
      },
    });
    await faultsDone;
    if (faultError) console.log(harness.diagnostics());
    expect(faultError).toBeUndefined();
    const tProduced = Date.now();

    // Every handler has its last notification (or the deadline passed).
    const owed = new Map(f.clients.map((c) => [c, new Map(c.filters.map((flt) => [flt, expectedFor(flt, produced.sent)]))]));
    const hasLast = (c: SdkClient) =>
      [...(owed.get(c) ?? [])].every(([flt, exp]) => {
        const got = c.received.get(flt) ?? [];
        return exp.length === 0 || (got.length >= exp.length && seqOf(got.at(-1) as Notification) === exp.at(-1));
      });
    const complete = await f.waitAll(hasLast, 30_000);
    const tDone = Date.now();

    const reports = f.clients.flatMap((c) => c.filters.map((flt) => ({ client: c.index, filter: flt, ...handlerReport(c.received.get(flt) ?? [], owed.get(c)?.get(flt) ?? []) })));
    const delivered = f.clients.reduce((a, c) => a + new Set([...c.received.values()].flat().map((n) => n.offset)).size, 0);
    const frames = f.clients.reduce((a, c) => a + c.connections.reduce((b, k) => b + k.frames, 0), 0);
    const resets = f.clients.flatMap((c) => c.resets.map((r) => ({ client: c.index, ...r })));
    const reconnects = f.clients.reduce((a, c) => a + c.reconnects, 0);
    const expected = reports.reduce((a, r) => a + (owed.get(f.clients[r.client] as SdkClient)?.get(r.filter)?.length ?? 0), 0);
    const received = reports.reduce((a, r) => a + r.received, 0);
    // Reconnects the edge closed before answering the resume (welcomed just as its drain or kill came).
    const unanswered = f.clients.flatMap((c) => c.connections.slice(1).filter((k) => k.node !== undefined && k.resumed === undefined).map((k) => ({ client: c.index, ...wire(k) })));
    const secs = (a: number, b: number) => ((b - a) / 1000).toFixed(1);
    console.log(
      `sdk clients: sent=${produced.sent} clients=${CLIENTS} handlers=${reports.length} expected=${expected} received=${received} ` +
        `inexact=${reports.filter((r) => !r.exact).length} resets=${resets.length} reconnects=${reconnects} unansweredResumes=${JSON.stringify(unanswered)} wireFrames=${frames} distinctDelivered=${delivered} ` +
        `per-edge=${JSON.stringify(perEdge)} victim=${victim} moved=${victims.length} marks=${JSON.stringify(marks)} producerPausedMs=${pausedMs} ` +
        `(total ${secs(t0, tDone)} s: harness ${secs(t0, tHarness)}, fleet ${secs(tHarness, tFleet)}, produce+faults ${secs(tFleet, tProduced)}, catch-up ${secs(tProduced, tDone)})`,
    );
    const bad = reports.filter((r) => !r.exact);
    if (!complete || bad.length > 0 || resets.length > 0) {
      console.log(JSON.stringify({ bad: bad.slice(0, 8), resets: resets.slice(0, 8) }));
      console.log(harness.diagnostics());
    }

    // A reset means the edge could not replay what the client missed: history lost.
    expect(resets, 'a reset means history was lost: with the outbox and the stream retention as configured there must be none').toEqual([]);
    for (const r of reports) {
      expect(r, `client ${r.client}, filter ${r.filter}`).toEqual({ ...r, missing: [], duplicated: [], unexpected: [], outOfOrder: 0, exact: true });
    }
    expect(complete).toBe(true);

    // The faults happened while notifications were being committed, and did what they should.
    expect(marks['kill']).toBeGreaterThanOrEqual(FAULT_AT);
    expect(drainExits).toEqual([0, 0, 0]);
    expect(victims.length).toBeGreaterThan(0);
    for (const c of victims) expect(c.closeCodes[0], `client ${c.index} on the killed edge`).toBe(1006);
    for (const c of f.clients) {
      const label = `client ${c.index}`;
      // Every client's edge was drained at some point of the rolling restart: it got 1012 and resumed.
      expect(c.connections.some((k) => k.closeCode === 1012 && (k.closedAt ?? 0) >= tRoll), label).toBe(true);
      // Every reconnect resumed (never subscribed afresh, never reset); one that the edge closed
      // before its `resumed` (welcomed just as a drain or kill came) was followed by another resume.
      const reconnections = c.connections.slice(1).filter((k) => k.node !== undefined);
      expect(reconnections.filter((k) => k.subscribed.size > 0 || k.reset !== undefined || (k.resumed === undefined && k.closeCode === undefined)).map(wire), label).toEqual([]);
      expect(c.connection?.resumed, `${label}: its last connection resumed`).toBeDefined();
      // Each connect fetched a fresh token, for the same user.
      expect(c.tokens, label).toBe(c.connections.length);
      expect(new Set(c.connections.filter((k) => k.node !== undefined).map((k) => k.userId)), label).toEqual(new Set([`fleet-${c.index}`]));
      expect(c.errors, label).toEqual([]);
      expect(c.client.state, label).toBe('connected');
    }
  });
});

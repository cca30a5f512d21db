/**
 * Cluster smoke test: 2 listeners, 3 edges behind HAProxy (NOTIFIER_AUTH=jwt, as deployed), 20
 * resilient clients with mixed, overlapping filters connected through HAProxy, each with a token
 * in one of the three carriers; one edge is SIGKILLed while a producer commits 300 outbox
 * notifications. Its clients reconnect through HAProxy onto the other edges, with the same tokens,
 * and resume: every client gets every matching notification exactly once, in order.
 *
 *   npm run build && npx vitest run --project cluster test/cluster/smoke.test.ts
 */
import { upgradeStatus } from '../helpers/ws-client.js';
import { afterAll, describe, expect, it } from 'vitest';
import { produce } from '../helpers/producer.js';
import { mintToken } from '../helpers/tokens.js';
import { expectedSeqs, mixedFilters, startFleet, startHarness, type Fleet, type FleetClient, type Harness } from './harness.js';

let h: Harness | undefined;
let fleet: Fleet | undefined;

afterAll(async () => {
  await fleet?.stop();
  await h?.stop();
});

const COUNT = 300;
const CLIENTS = 20;

const filtersFor = (i: number) => mixedFilters(i, COUNT);

const expectedFor = (c: FleetClient) => expectedSeqs(c.filters, COUNT, 'seq');


describe('cluster smoke', () => {
  it('SIGKILL one edge mid-stream: its clients come back through HAProxy on the others and resume, nothing lost or duplicated', async () => {
    const t0 = Date.now();
    h = await startHarness({ listeners: 2, edges: 3 });
    const harness = h;
    const tStarted = Date.now();
    expect(harness.auth).toBe('jwt');
    fleet = await startFleet(harness, CLIENTS, filtersFor);
    // Every client got in with its own token, whichever carrier it used.
    expect(new Set(fleet.clients.map((c) => c.credentials?.carrier))).toEqual(new Set(['query', 'authorization', 'protocol']));
    for (const c of fleet.clients) expect(c.userIds, `client ${c.index}`).toEqual([`fleet-${c.index}`]);
    // Through HAProxy, as deployed: no socket without a valid token.
    expect(await upgradeStatus(harness.lb.url)).toBe(401);
    const expired = await mintToken({ sub: 'late', expiresIn: -60 });
    expect(await upgradeStatus(harness.lb.url, { headers: { authorization: `Bearer ${expired}` } })).toBe(401);
    expect(await upgradeStatus(`${harness.lb.url}?token=not.a.jwt`)).toBe(401);

    // Round robin without stickiness: the clients landed on more than one edge.
    const nodes = await harness.edgeNodes();
    const spread = fleet.spread();
    const perEdge = nodes.map((n) => (n === undefined ? 0 : (spread.get(n) ?? 0)));
    expect(perEdge.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    expect(perEdge.filter((n) => n > 0).length).toBeGreaterThan(1);

    const victim = perEdge.indexOf(Math.max(...perEdge));
    const victimNode = nodes[victim];
    const onVictim = fleet.clients.filter((c) => c.node === victimNode);
    expect(onVictim.length).toBeGreaterThan(0);

    await produce({
      databaseUrl: harness.pg.url,
      count: COUNT,
      intervalMs: 15,
      entityType: 'seq',
      onSent: async (sent) => {
        if (sent === 100) await harness.killEdge(victim, 'SIGKILL');
      },
    });
    await harness.lb.waitServer(victim, 'DOWN', 5000);
    const complete = await fleet.waitForSeqs(expectedFor, 20_000);
    const report = fleet.report(expectedFor);
    console.log(`${report.line('cluster smoke, SIGKILL edge', COUNT)} per-edge=${JSON.stringify(perEdge)} victim=${victim} moved=${onVictim.length} (${Date.now() - t0} ms, harness ${tStarted - t0} ms)`);
    if (!complete || !report.ok) {
      const bad = report.clients.filter((r) => r.missing.length + r.duplicated.length + r.outOfOrder + r.unexpected.length > 0);
      console.log(JSON.stringify(bad.slice(0, 5), (k, v: unknown) => (Array.isArray(v) && v.length > 20 ? [...v.slice(0, 20), `…${v.length}`] : v)));
      console.log(harness.diagnostics());
    }

    for (const r of report.clients) {
      expect({ client: r.client, missing: r.missing, duplicated: r.duplicated, outOfOrder: r.outOfOrder, unexpected: r.unexpected }).toEqual({
        client: r.client,
        missing: [],
        duplicated: [],
        outOfOrder: 0,
        unexpected: [],
      });
    }
    expect(complete).toBe(true);
    expect(report.resets).toBe(0);

    // The victim's clients saw the kill (1006), came back on another edge and resumed there.
    for (const c of onVictim) {
      expect(c.closeCodes).toContain(1006);
      expect(c.node).not.toBe(victimNode);
      expect(c.resumes).toBeGreaterThanOrEqual(1);
      // Back in with the same token.
      expect(new Set(c.userIds)).toEqual(new Set([`fleet-${c.index}`]));
    }
    // Nobody else was disturbed.
    for (const c of fleet.clients.filter((x) => !onVictim.includes(x))) expect(c.closeCodes).toEqual([]);
  });
});

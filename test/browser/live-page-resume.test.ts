/**
 * The live page in Chromium served by an edge (NOTIFIER_LIVE_PAGE=1) of a cluster on Redis: the
 * edge stops (closing the page's socket with 1012) and starts again on the same port while the
 * listener goes on publishing, and the client SDK the page runs on resumes: every notification
 * shows exactly once (rows counted), overlapping filters included, and none is missed.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createCluster, waitLeaderSeen, waitReady } from '../helpers/cluster.js';
import { TestClient } from '../helpers/ws-client.js';
import { chip, freePort, openPage, requireChromium, row, subscribe, type Cleanup } from './live-page-helpers.js';

const cleanup: Cleanup = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe('the live page on an edge, in Chromium', () => {
  it('on an edge that stops and starts again, resumes through the SDK: every notification once, none missed', async () => {
    requireChromium();
    const cluster = await createCluster();
    cleanup.push(() => cluster.stop());
    const listener = cluster.startListener();
    await listener.waitForEvent('leader:listen:success');
    const port = await freePort();
    const edgeEnv = { PORT: String(port), NOTIFIER_LIVE_PAGE: '1', NOTIFIER_DRAIN_SECONDS: '0' };
    let edge = await cluster.startEdge(edgeEnv);
    await waitReady(edge.http);
    await waitLeaderSeen(edge.http);
    // A second edge that stays up: its client proves the listener published what the page missed.
    const witnessEdge = await cluster.startEdge();
    await waitReady(witnessEdge.http);
    const witness = await TestClient.connect(witnessEdge.url);
    cleanup.push(() => witness.close());
    await witness.subscribe('entity_type:execution');

    const { page, pageErrors, scripts } = await openPage(cleanup);
    await page.goto(`${edge.http}/`);
    await page.locator('#status[data-state="connected"]').waitFor();
    expect(scripts).toContain('200 /sdk/client/index.js');
    // Overlapping filters: a notification matching both is one row.
    await subscribe(page, 'entity_type', 'execution');
    await chip(page, 'entity_type:execution').waitFor();
    await subscribe(page, 'user', '456');
    await chip(page, 'user:456').waitFor();

    // Plain NOTIFYs, each committed on its own, on one connection (a process per notification is slow on a busy machine).
    const db = new pg.Client({ connectionString: cluster.db.url });
    await db.connect();
    cleanup.push(() => db.end());
    const send = (id: number) => db.query('SELECT pg_notify($1, $2)', ['execution_status_changed', JSON.stringify({ entity_type: 'execution', entity_id: id, user_id: 456, status: 'running' })]);
    for (const id of [1, 2, 3]) await send(id);
    await row(page, 3).waitFor();
    await witness.waitForNotifications(3);

    // The edge goes away (closing the page's socket with 1012, server restarting); the listener
    // goes on publishing to Redis.
    await edge.proc.kill('SIGTERM');
    await page.locator('#status:not([data-state="connected"])').waitFor();
    await page.locator('#log li', { hasText: 'code 1012' }).first().waitFor();
    for (const id of [4, 5, 6, 7, 8]) await send(id);
    await witness.waitForNotifications(8);

    edge = await cluster.startEdge(edgeEnv);
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 30_000 });
    await page.locator('#notes li.divider', { hasText: '5 missed notifications replayed' }).waitFor();
    expect(await page.textContent('#c-replayed')).toBe('5');
    await chip(page, 'entity_type:execution').waitFor();
    await chip(page, 'user:456').waitFor();
    await waitLeaderSeen(edge.http);
    for (const id of [9, 10]) await send(id);
    await row(page, 10).waitFor();

    // Every one exactly once, newest first; no reset.
    await expect.poll(() => page.locator('#notes li.note').count()).toBe(10);
    const ids = await Promise.all((await page.locator('#notes li.note').all()).map(async (li) => Number(await li.getAttribute('data-entity-id'))));
    expect(ids).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    await expect.poll(() => page.textContent('#c-notifications')).toBe('10');
    expect(await page.textContent('#c-reconnects')).toBe('1');
    expect(await page.locator('#notes li.divider.warn').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    // A listener, two edges and a restart: more than the project's 60 s on a busy 2-core machine.
  }, 120_000);
});

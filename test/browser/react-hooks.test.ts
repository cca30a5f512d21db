/**
 * The React hooks (`notifier/react`) in Chromium against a real edge: a small app
 * (test/browser/react-app.tsx, in StrictMode) is bundled with react-dom by esbuild, served from
 * its own origin, and pointed at an edge of a listener + edge pipeline. Outbox notifications show
 * in useNotifications' list (newest first, `max` kept) and, for one entity only, in
 * useEntityNotifications', and with a `where` only those it holds for; the connection state is
 * rendered. The examples' useExecutionStream keeps
 * rows from row_notify-style payloads (in place, on top, removed) and WebSocketStatus shows a
 * reconnect. Unmounting the lists unsubscribes
 * (the edge's /stats `total_subscriptions` drops to 0), unmounting the provider closes the client
 * (`connected_clients` 0), and a killed edge shows as `connecting`. An edge back on the same port
 * after the stream was trimmed past the client's offset: the hook's `reset` says `expired`.
 */
import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { launchPage, requireChromium } from '../helpers/chromium.js';
import { afterAll, describe, expect, it } from 'vitest';
import { createServer as createTcpServer } from 'node:net';
import { createCluster, waitLeaderSeen, waitReady } from '../helpers/cluster.js';
import { produce } from '../helpers/producer.js';
import { eventually } from '../helpers/services.js';


const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** The app bundled for the browser: react-dom's development build, so StrictMode runs each effect twice. */
async function bundleApp(): Promise<string> {
  const result = await build({
    entryPoints: ['test/browser/react-app.tsx'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' },
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Serves the page and its bundle on a port of its own: the app's origin is not the edge's. */
async function serveApp(bundle: string): Promise<{ origin: string; server: Server }> {
  const html =
    '<!doctype html><meta charset="utf-8"><title>react hooks</title><div id="root"></div>' +
    `<script type="module">import { mount } from './app.js'; mount(document.getElementById('root'), new URLSearchParams(location.search).get('ws'));</script>`;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else if (path === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, server };
}

/** A port free now: the edge comes back on the same one, where the client reconnects. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function stats(http: string): Promise<Record<string, number>> {
  return (await (await fetch(`${http}/stats`)).json()) as Record<string, number>;
}

/** Waits until the edge's /stats shows these values. */
function statsShow(http: string, want: Record<string, number>): Promise<unknown> {
  return eventually(
    async () => {
      const s = await stats(http);
      if (Object.entries(want).some(([k, v]) => s[k] !== v)) throw new Error(JSON.stringify(s));
      return true;
    },
    10_000,
    `/stats to show ${JSON.stringify(want)}`,
  );
}

async function entityIds(page: Page, list: string): Promise<(string | null)[]> {
  return Promise.all((await page.locator(`#${list} li`).all()).map((li) => li.getAttribute('data-entity-id')));
}

describe('the React hooks in Chromium', () => {
  it('render notifications from a real edge, unsubscribe on unmount, close the client with the provider, and report a reset', async () => {
    requireChromium();
    const app = await serveApp(await bundleApp());
    cleanup.push(() => new Promise((r) => app.server.close(r)));
    // The smallest stream retention, so that the 1,500 notifications sent while the edge is down trim past the client.
    const cluster = await createCluster({ env: { NOTIFIER_ALLOWED_ORIGINS: app.origin, NOTIFIER_STREAM_RETENTION: '1000' } });
    cleanup.push(() => cluster.stop());
    await cluster.startListener().waitForEvent('leader:listen:success');
    const port = await freePort();
    const startEdge = async () => {
      const edge = await cluster.startEdge({ PORT: String(port), NOTIFIER_DRAIN_SECONDS: '0' });
      await waitReady(edge.http);
      await waitLeaderSeen(edge.http);
      return edge;
    };
    const edge = await startEdge();

    const { page, pageErrors } = await openPage();
    await page.goto(`${app.origin}/?ws=${encodeURIComponent(edge.url)}`);
    await page.locator('#status[data-state="connected"]').waitFor();
    await page.locator('#jobs-meta[data-state="connected"]').waitFor();
    // StrictMode subscribed, unsubscribed and subscribed again: one connection, four subscriptions
    // (entity_type:job twice, with and without a where, are two).
    await statsShow(edge.http, { connected_clients: 1, total_subscriptions: 4 });
    expect(await page.locator('[role="status"]').count()).toBe(0); // WebSocketStatus hides while connected

    // Another entity type first: once the jobs show, it would have shown too.
    await produce({ databaseUrl: cluster.db.url, count: 1, intervalMs: 0, entityType: 'other', channel: 'other_changed' });
    await produce({ databaseUrl: cluster.db.url, count: 4, intervalMs: 0, entityType: 'job', channel: 'job_changed' });
    await page.locator('#jobs-meta[data-count="4"]').waitFor();
    expect(await entityIds(page, 'jobs')).toEqual(['3', '2', '1']); // newest first, max 3
    expect(await page.locator('#jobs-meta').getAttribute('data-latest')).toBe('3');
    expect(await page.locator('#jobs li[data-type="other"]').count()).toBe(0);
    expect(await entityIds(page, 'job')).toEqual(['2']);
    expect(await entityIds(page, 'job-where')).toEqual(['1']);

    // row_notify payloads: 1 is not failed yet, 2 fails, changes, and is deleted; then 1 fails.
    const row = (operation: string, id: number, status: string, action = 'core.echo') =>
      cluster.db.sql(`SELECT notifier.publish('execution_changed', $1::jsonb)`, [
        JSON.stringify({ entity_type: 'execution', entity_id: id, operation, row: { id, action, status, updated: new Date().toISOString() } }),
      ]);
    await row('INSERT', 1, 'running');
    await row('INSERT', 2, 'failed');
    await row('UPDATE', 2, 'failed', 'core.retry');
    await page.locator('#failed li', { hasText: 'core.retry' }).waitFor();
    expect(await entityIds(page, 'failed')).toEqual(['2']); // updated in place; 1 not failed
    await row('DELETE', 2, 'failed');
    await row('UPDATE', 1, 'failed');
    await page.locator('#failed li[data-entity-id="1"]').waitFor();
    expect(await entityIds(page, 'failed')).toEqual(['1']);

    // Unmounted: the subscriptions go, the connection stays.
    await page.click('#toggle-lists');
    await page.locator('#jobs').waitFor({ state: 'detached' });
    await statsShow(edge.http, { connected_clients: 1, total_subscriptions: 0 });
    // Mounted again: subscribed again, with an empty list.
    await page.click('#toggle-lists');
    await statsShow(edge.http, { connected_clients: 1, total_subscriptions: 4 });
    expect(await page.locator('#jobs-meta').getAttribute('data-count')).toBe('0');
    await produce({ databaseUrl: cluster.db.url, count: 1, intervalMs: 0, entityType: 'job', channel: 'job_changed' });
    await page.locator('#jobs-meta[data-count="1"]').waitFor();
    expect(await entityIds(page, 'jobs')).toEqual(['0']);

    // The provider unmounted closes its client.
    await page.click('#toggle-provider');
    await page.locator('#status').waitFor({ state: 'detached' });
    await statsShow(edge.http, { connected_clients: 0, total_subscriptions: 0 });
    await page.click('#toggle-provider');
    await page.locator('#status[data-state="connected"]').waitFor();
    await statsShow(edge.http, { connected_clients: 1, total_subscriptions: 4 });

    // The edge gone: the state shows the client reconnecting.
    await edge.proc.kill('SIGKILL');
    await page.locator('#status[data-state="connecting"]').waitFor();
    await page.locator('#jobs-meta[data-state="connecting"]').waitFor();
    await page.locator('[role="status"]', { hasText: 'Reconnecting' }).waitFor();

    // Sent while no edge runs, past the retention: the client resumes on the edge back on its port, and gets `reset`.
    await cluster.db.sql(`SELECT notifier.publish('bulk_changed', jsonb_build_object('entity_type', 'bulk', 'entity_id', g)) FROM generate_series(1, 1500) g`);
    const back = await startEdge();
    await page.locator('#jobs-meta[data-reset="expired"]').waitFor();
    await page.locator('#status[data-state="connected"]').waitFor();
    await statsShow(back.http, { connected_clients: 1, total_subscriptions: 4 });
    await produce({ databaseUrl: cluster.db.url, count: 2, intervalMs: 0, entityType: 'job', channel: 'job_changed' });
    await page.locator('#jobs-meta[data-count="2"]').waitFor(); // mounted afresh with the provider
    expect(await entityIds(page, 'jobs')).toEqual(['1', '0']);
    expect(pageErrors).toEqual([]);
  });
});

async function openPage(): Promise<{ page: Page; pageErrors: string[] }> {
  const { context, page, pageErrors } = await launchPage(cleanup);
  context.setDefaultTimeout(10_000);
  return { page, pageErrors };
}

/**
 * The live page in a real browser (Debian's Chromium through playwright-core) against
 * `notifier start`: it loads the client SDK from /sdk/ and runs on it, subscribes, shows what
 * `notifier notify` sends, stops showing what it unsubscribed from, and reconnects, resubscribes
 * and goes on after a server restart. Takes the screenshot the README shows: into
 * docs/live-page.png with UPDATE_SCREENSHOT=1 (or when it is missing), else into a temp dir, so
 * that a test run leaves the checkout unchanged. Then, against `notifier start` with
 * NOTIFIER_AUTH=jwt: the page's token field (sent as a subprotocol), the user and expiry from
 * welcome, a forbidden subscribe, and a refresh that takes a filter away.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitLeaderSeen, waitReady } from '../helpers/cluster.js';
import { spawnNotifier, type NotifierProcess } from '../helpers/processes.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { JWT_ENV, mintToken } from '../helpers/tokens.js';
import { CLI, chip, freePort, lastOffset, notify, openPage, requireChromium, row, runShell, sendFromForm, subscribe, type Cleanup } from './live-page-helpers.js';

const SCREENSHOT = fileURLToPath(new URL('../../docs/live-page.png', import.meta.url));

const cleanup: Cleanup = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe('the live page in Chromium', () => {
  it('subscribes, shows notifications, unsubscribes, and resumes after a server restart', async () => {
    requireChromium();
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    const servers: NotifierProcess[] = [];
    cleanup.push(() => Promise.all(servers.map((s) => s.kill('SIGKILL'))));
    const startServer = (port: number) => {
      const p = spawnNotifier(['start'], { DATABASE_URL: db.url, REDIS_URL: '', PORT: String(port), NOTIFIER_DRAIN_SECONDS: '0', LOG_LEVEL: 'info' });
      servers.push(p);
      return p;
    };

    const port = await freePort();
    let server = startServer(port);
    await server.port();
    const http = `http://127.0.0.1:${port}`;
    await waitReady(http);
    // A plain NOTIFY is heard only once the leader LISTENs.
    await waitLeaderSeen(http);

    const { page, pageErrors, userDataDir, scripts } = await openPage(cleanup);

    await page.goto(`${http}/`);
    await page.locator('#status[data-state="connected"]').waitFor();
    await page.locator('#send-form').waitFor(); // shown: /api/info says this server accepts sends
    // The connection is the SDK's: its modules came from this server, as JavaScript.
    expect(scripts).toEqual(expect.arrayContaining(['200 /sdk/client/index.js', '200 /sdk/client/client.js', '200 /sdk/protocol/filters.js', '200 /sdk/protocol/close-action.js']));

    await subscribe(page, 'entity_type', 'execution');
    await chip(page, 'entity_type:execution').waitFor();
    await subscribe(page, 'notification_type', 'inquiry_created');
    await chip(page, 'notification_type:inquiry_created').waitFor();

    await notify(db.url, 'execution_status_changed', { entity_type: 'execution', entity_id: 123, user_id: 456, status: 'running' });
    await row(page, 123).waitFor();
    expect(await row(page, 123).getAttribute('data-type')).toBe('execution_status_changed');

    // Unsubscribed: the next execution notification must not show. The inquiry sent after it
    // matches a filter still active, so once it shows, the execution one would have too.
    await page.click('#subs li[data-filter="entity_type:execution"] button.unsub');
    await page.locator('#subs li[data-filter="entity_type:execution"]').waitFor({ state: 'detached' });
    await notify(db.url, 'execution_status_changed', { entity_type: 'execution', entity_id: 124, user_id: 456, status: 'succeeded' });
    await notify(db.url, 'inquiry_created', { entity_type: 'inquiry', entity_id: 7, user_id: 456 });
    await row(page, 7).waitFor();
    expect(await row(page, 124).count()).toBe(0);
    await expect.poll(() => page.textContent('#c-notifications')).toBe('2');

    // Disconnect by hand, miss a notification, connect by hand: the page resumes from its offset
    // and the edge replays it. (Reconnecting only once the edge has it makes this a replay.)
    await page.click('#disconnect');
    await page.locator('#status[data-state="disconnected"]').waitFor();
    const before = await lastOffset(http);
    await notify(db.url, 'inquiry_created', { entity_type: 'inquiry', entity_id: 70, user_id: 456 });
    await expect.poll(() => lastOffset(http)).not.toBe(before);
    await page.click('#connect');
    await row(page, 70).waitFor();
    await page.locator('#notes li.divider', { hasText: '1 missed notification replayed' }).waitFor();
    expect(await page.textContent('#c-replayed')).toBe('1');

    // Restart the server on the same port: the page reconnects with back-off and resumes its
    // filters (the in-process bus starts a new history, so the edge answers `reset`).
    await server.kill('SIGTERM');
    await page.locator('#status:not([data-state="connected"])').waitFor();
    server = startServer(port);
    await server.port();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 20_000 });
    await chip(page, 'notification_type:inquiry_created').waitFor();
    await page.locator('#notes li.divider', { hasText: 'history reset' }).waitFor();
    expect(await page.textContent('#c-reconnects')).toBe('2');
    await waitLeaderSeen(http);
    await notify(db.url, 'inquiry_created', { entity_type: 'inquiry', entity_id: 8, user_id: 789 });
    await row(page, 8).waitFor();

    // A realistic screen for the README: everything, a few kinds, sent from the page's own form.
    await subscribe(page, 'all');
    await chip(page, 'all').waitFor();
    await sendFromForm(page, 'workflow_execution_status_changed', { entity_type: 'workflow_execution', entity_id: 31, user_id: 456, status: 'running' });
    await row(page, 31).waitFor();
    await sendFromForm(page, 'execution_created', { entity_type: 'execution', entity_id: 125, user_id: 456, status: 'requested', action: 'core.http' }, true);
    await row(page, 125).waitFor();
    await sendFromForm(page, 'event_created', { entity_type: 'event', entity_id: 5012, trigger: 'core.timer', payload: { fired_at: '2026-11-23T09:00:00Z' } });
    await row(page, 5012).waitFor();
    // The command line the page shows under the form sends the same notification from a shell.
    await page.fill('#send-channel', 'inquiry_responded');
    await page.fill('#send-payload', JSON.stringify({ entity_type: 'inquiry', entity_id: 9, user_id: 789, response: "it's fine" }));
    const cli = (await page.textContent('#send-cli')) ?? '';
    expect(cli).toMatch(/^npx notifier notify inquiry_responded '/);
    await runShell(cli.replace(/^npx notifier /, `'${process.execPath}' '${CLI}' `), db.url);
    await row(page, 9).waitFor();
    expect(await page.textContent('#notes li.note[data-entity-id="9"] .what')).toContain('inquiry:9');
    await sendFromForm(page, 'execution_status_changed', { entity_type: 'execution', entity_id: 125, user_id: 456, status: 'succeeded', duration_ms: 412 });
    await page.locator('#notes li.note[data-entity-id="125"]').nth(1).waitFor();
    await page.click('#notes li.note:first-child summary');
    await page.locator('#notes li.note:first-child pre.json .j-key').first().waitFor();
    await expect.poll(() => page.textContent('#c-notifications')).toBe('9');

    const target = process.env['UPDATE_SCREENSHOT'] === '1' || !existsSync(SCREENSHOT) ? SCREENSHOT : join(userDataDir, 'live-page.png');
    mkdirSync(join(target, '..'), { recursive: true });
    await page.screenshot({ path: target });
    expect(statSync(target).size).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  });

  it('connects with the token field to an edge with NOTIFIER_AUTH=jwt: user, expiry, forbidden filters, refresh', async () => {
    requireChromium();
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    const port = await freePort();
    const server = spawnNotifier(['start'], { DATABASE_URL: db.url, REDIS_URL: '', PORT: String(port), NOTIFIER_DRAIN_SECONDS: '0', LOG_LEVEL: 'info', ...JWT_ENV });
    cleanup.push(() => server.kill('SIGKILL'));
    await server.port();
    const http = `http://127.0.0.1:${port}`;
    await waitReady(http);
    await waitLeaderSeen(http);

    const { page, pageErrors } = await openPage(cleanup);

    // Without a token the upgrade is refused (401): the page says to paste one.
    await page.goto(`${http}/`);
    await page.locator('#log li.error', { hasText: 'paste a token in the token field' }).first().waitFor();
    expect(await page.getAttribute('#status', 'data-state')).not.toBe('connected');

    const token = await mintToken({ sub: 'user-7', claim: { filters: ['entity_type:execution'] } });
    await page.fill('#token', token);
    await page.click('#connect');
    // Chromium may hold a new WebSocket attempt back for seconds after refused ones.
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.textContent('#user-id')).toBe('user-7');
    await expect.poll(() => page.textContent('#expires-at')).toMatch(/\(in /);

    // `all` is beyond the token: forbidden, named on the page; its own filters work.
    await subscribe(page, 'all');
    await page.locator('#sub-error', { hasText: 'all' }).waitFor();
    await page.locator('#log li.warn', { hasText: 'forbidden' }).first().waitFor();
    expect(await page.locator('#subs li[data-filter="all"]').count()).toBe(0);
    await subscribe(page, 'entity_type', 'execution');
    await chip(page, 'entity_type:execution').waitFor();
    await subscribe(page, 'user', 'user-7');
    await chip(page, 'user:user-7').waitFor();
    await notify(db.url, 'execution_status_changed', { entity_type: 'execution', entity_id: 501, user_id: 'user-9' });
    await row(page, 501).waitFor();

    // Enter in the token field while connected refreshes: a token without entity_type:execution
    // takes that filter away (unsubscribed, reason forbidden); user:<sub> stays.
    await page.fill('#token', await mintToken({ sub: 'user-7', claim: { filters: [] }, expiresIn: 7200 }));
    await page.press('#token', 'Enter');
    await page.locator('#log li', { hasText: 'token refreshed' }).first().waitFor();
    await page.locator('#subs li[data-filter="entity_type:execution"]').waitFor({ state: 'detached' });
    await chip(page, 'user:user-7').waitFor();
    await notify(db.url, 'execution_status_changed', { entity_type: 'execution', entity_id: 502, user_id: 'user-9' });
    await notify(db.url, 'execution_status_changed', { entity_type: 'execution', entity_id: 503, user_id: 'user-7' });
    await row(page, 503).waitFor();
    expect(await row(page, 502).count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

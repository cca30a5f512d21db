/**
 * What the live page's browser tests share: Debian's Chromium on a fresh profile, the page's
 * locators and forms, `notifier notify` and a shell as a user runs them, and a free port.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchPage, type Cleanup } from '../helpers/chromium.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export { CHROMIUM, requireChromium, type Cleanup } from '../helpers/chromium.js';

/** `notifier notify <channel> <json>`, as a user sends one from a shell. */
export function notify(databaseUrl: string, channel: string, payload: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, 'notify', channel, JSON.stringify(payload)],
      { env: { PATH: process.env['PATH'], DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }, timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`notifier notify failed: ${err.message}\n${stdout}${stderr}`)) : resolve()),
    );
  });
}

/** Runs a command line through bash, as a user pastes it into a terminal. */
export function runShell(commandLine: string, databaseUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-c', commandLine],
      { env: { PATH: process.env['PATH'], DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }, timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${commandLine} failed: ${err.message}\n${stdout}${stderr}`)) : resolve()),
    );
  });
}

/**
 * A port free now. The server gets it from the start, not PORT=0: uSockets sets SO_REUSEADDR
 * only for a fixed port, and the restart must bind the port again next to the first run's
 * TIME_WAIT connections.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** The edge's newest published offset (its /stats). */
export async function lastOffset(http: string): Promise<unknown> {
  return ((await (await fetch(`${http}/stats`)).json()) as Record<string, unknown>)['last_offset'];
}

/** A notification row of the page, by entity id. */
export const row = (page: Page, entityId: number) => page.locator(`#notes li.note[data-entity-id="${entityId}"]`);
export const chip = (page: Page, filter: string, state = 'active') => page.locator(`#subs li[data-filter="${filter}"][data-state="${state}"]`);

export async function subscribe(page: Page, kind: string, a = '', b = ''): Promise<void> {
  await page.selectOption('#sub-kind', kind);
  if (a) await page.fill('#sub-a', a);
  if (b) await page.fill('#sub-b', b);
  await page.click('#sub-add');
}

export async function sendFromForm(page: Page, channel: string, payload: Record<string, unknown>, outbox = false): Promise<void> {
  await page.fill('#send-channel', channel);
  await page.fill('#send-payload', JSON.stringify(payload, null, 1).replace(/\n\s*/g, ' '));
  await page.setChecked('#send-outbox', outbox);
  await page.click('#send-button');
  await page.locator('#send-result.okmsg', { hasText: `Sent on ${channel}` }).waitFor();
}

/**
 * Debian's Chromium on a fresh profile (removed after the test); page errors and CSP violations
 * collected, and the scripts it loaded (`<status> <path>`, only those served as JavaScript).
 */
export async function openPage(cleanup: Cleanup): Promise<{ page: Page; pageErrors: string[]; userDataDir: string; scripts: string[] }> {
  const { context, page, pageErrors, userDataDir } = await launchPage(cleanup, { width: 1280, height: 1000 });
  context.setDefaultTimeout(10_000);
  page.on('console', (msg) => {
    // Refused connects (a stopped server, a missing token) are expected; a CSP violation is not.
    if (msg.type() === 'error' && /Content Security Policy|Refused to/.test(msg.text())) pageErrors.push(msg.text());
  });
  const scripts: string[] = [];
  page.on('response', (res) => {
    if (res.request().resourceType() === 'script' && res.headers()['content-type'] === 'text/javascript; charset=utf-8') scripts.push(`${res.status()} ${new URL(res.url()).pathname}`);
  });
  return { page, pageErrors, userDataDir, scripts };
}

/**
 * Debian's Chromium for the browser tests, driven by playwright-core (no browser is ever
 * downloaded): a clear error when it is missing, and a fresh profile per page, removed after.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

/** Steps run after the file's tests, last pushed first. */
export type Cleanup = (() => Promise<unknown> | unknown)[];

/** Throws, saying how to get one, when there is no Chromium. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: the browser test drives Debian's Chromium. Install it with \`apt-get install chromium\` ` +
        '(`.ci/run` installs it), or set CHROMIUM to a Chromium binary. No browser is downloaded.',
    );
  }
}

/** A headless page on a fresh profile (both removed by `cleanup`); uncaught page errors collected. */
export async function launchPage(cleanup: Cleanup, viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; pageErrors: string[]; userDataDir: string }> {
  requireChromium();
  const userDataDir = mkdtempSync(join(tmpdir(), 'notifier-chromium-'));
  cleanup.push(() => rmSync(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    ...(viewport ? { viewport } : {}),
  });
  cleanup.push(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { context, page, pageErrors, userDataDir };
}

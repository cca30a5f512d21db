/**
 * Server-Sent Events failover in a real browser: Chromium's own EventSource (Debian's Chromium
 * through playwright-core), through HAProxy with no stickiness (deploy/haproxy/haproxy.cfg, as the
 * cluster tests run it) in front of three edges. The edge the stream is on is SIGKILLed while
 * numbered notifications are published; the EventSource reconnects by itself, through HAProxy, to
 * another edge, sending its Last-Event-ID, and the page ends up with every notification exactly
 * once and in order: those published before, during and after the kill.
 */
import type { Page } from 'playwright-core';
import { launchPage, requireChromium } from '../helpers/chromium.js';
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../cluster/harness.js';

const TYPE = 'sse_browser';

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

interface PageState {
  seqs: number[];
  controls: { type: string; data: Record<string, unknown>; id: string }[];
  errors: number;
  readyState: number;
}

// Page scripts are strings: this project's TypeScript has no DOM types (Node only).
const state = (page: Page) =>
  page.evaluate(`({ seqs: [...window.seqs], controls: [...window.controls], errors: window.errors, readyState: window.es.readyState })`) as Promise<PageState>;

/** Opens the EventSource on the page (same origin: a relative URL) and records what it gets. */
const OPEN_STREAM = (type: string) => `
  window.seqs = [];
  window.controls = [];
  window.errors = 0;
  const es = new EventSource('/sse?filter=entity_type:${type}');
  es.onmessage = (e) => window.seqs.push(JSON.parse(e.data).entity_id);
  for (const t of ['welcome', 'resumed', 'reset', 'close']) {
    es.addEventListener(t, (e) => window.controls.push({ type: t, data: JSON.parse(e.data), id: e.lastEventId }));
  }
  es.onerror = () => { window.errors += 1; };
  window.es = es;
`;

async function waitFor(page: Page, check: (s: PageState) => boolean, timeoutMs: number, what: string): Promise<PageState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await state(page);
    if (check(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...s, seqs: s.seqs.length })}`);
    await page.waitForTimeout(50);
  }
}

describe('an EventSource through HAProxy', () => {
  it('reconnects to another edge when its edge is SIGKILLed, and misses nothing', { timeout: 180_000 }, async () => {
    requireChromium();
    const h: Harness = await startHarness({ listeners: 1, edges: 3, auth: 'none' });
    cleanup.push(() => h.stop());
    const publish = (from: number, to: number, type = TYPE) =>
      h.pg.sql(`SELECT notifier.publish('x', json_build_object('entity_type', '${type}', 'entity_id', i)::jsonb) FROM generate_series(${from}, ${to}) i`);

    const { page, pageErrors } = await launchPage(cleanup);

    // Same origin as the stream: a page HAProxy serves (the edges' /health).
    await page.goto(`${h.lb.http}/health`);
    await page.evaluate(OPEN_STREAM(TYPE));
    const first = await waitFor(page, (s) => s.controls.some((c) => c.type === 'welcome'), 10_000, 'welcome');
    const clientId = String(first.controls[0]!.data['client_id']);
    const nodes = await h.edgeNodes();
    const victim = nodes.findIndex((n) => n !== undefined && clientId.startsWith(`${n}-`));
    expect(victim, `client ${clientId} on one of ${JSON.stringify(nodes)}`).toBeGreaterThanOrEqual(0);

    // Before: 0–49, interleaved with notifications the stream does not match.
    await publish(0, 49);
    await publish(0, 9, 'sse_other');
    await waitFor(page, (s) => s.seqs.length >= 50, 10_000, 'the first 50');
    // During: one at a time while its edge is SIGKILLed.
    for (let i = 50; i < 150; i++) {
      await publish(i, i);
      if (i === 70) await h.killEdge(victim, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const back = await waitFor(page, (s) => s.controls.filter((c) => c.type === 'welcome').length >= 2 && s.readyState === 1, 20_000, 'a second welcome');
    // After.
    await publish(150, 199);
    const end = await waitFor(page, (s) => s.seqs.length >= 200, 30_000, 'all 200');

    expect(end.seqs).toEqual([...Array(200).keys()]);
    const welcomes = back.controls.filter((c) => c.type === 'welcome');
    expect(String(welcomes[1]!.data['client_id']).startsWith(`${nodes[victim]}-`), 'reconnected to another edge').toBe(false);
    // It resumed (Last-Event-ID): a replay, not a reset.
    expect(end.controls.map((c) => c.type)).toEqual(['welcome', 'welcome', 'resumed']);
    expect(end.errors).toBeGreaterThanOrEqual(1);
    expect(pageErrors).toEqual([]);
    console.log(`sse failover: ${end.seqs.length} notifications, resumed ${JSON.stringify(end.controls[2]!.data)}`);
  });
});

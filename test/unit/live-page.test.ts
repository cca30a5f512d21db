/**
 * The live page's pieces that need no server: the page file and its CSP, the send endpoint's
 * body validation and loopback check, and which role gets which feature by default.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { LIVE_PAGE_FILE, loadLivePage } from '../../src/edge/live-page.js';
import { isLoopback, parseSendBody } from '../../src/edge/send-endpoint.js';
import { liveFeatures } from '../../src/live-features.js';

describe('the live page file', () => {
  const html = readFileSync(LIVE_PAGE_FILE, 'utf8');
  const script = /<script type="module">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';

  it('has one inline module script that compiles, imports the SDK from this server, and loads nothing from elsewhere', () => {
    expect(html.match(/<script/g)).toHaveLength(1);
    const check = spawnSync(process.execPath, ['--input-type=module', '--check', '-'], { input: script, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(script).toContain("import { NotifierClient } from '/sdk/client/index.js';");
    // The connection is the SDK's: the page opens no WebSocket of its own but through it.
    expect(script).toMatch(/new NotifierClient\(/);
    // Offline: no CDN, no web fonts, no external stylesheet or image.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/);
  });

  it('is served with a CSP that allows exactly its own inline script and style, and scripts from this server (the SDK)', () => {
    const page = loadLivePage();
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
    expect(page.csp).toContain(`script-src ${sha(script)} 'self';`);
    expect(page.csp).toContain(`style-src ${sha(style)};`);
    expect(page.csp).toContain("default-src 'none'");
    expect(page.etag).toMatch(/^"[\w-]{22}"$/);
    expect(page.body.toString()).toBe(html);
  });

  it('names the build step when the file is missing', () => {
    expect(() => loadLivePage(new URL('file:///nonexistent/live-page.html'))).toThrow(/npm run build/);
  });
});

describe('POST /api/notify body', () => {
  const parse = (text: string) => parseSendBody(Buffer.from(text));

  it('accepts a channel, any JSON payload and an optional outbox flag', () => {
    expect(parse('{"channel":"c","payload":{"entity_type":"execution","entity_id":1}}')).toEqual({
      ok: true,
      input: { channel: 'c', json: '{"entity_type":"execution","entity_id":1}', outbox: false },
    });
    expect(parse('{"channel":"c","payload":null,"outbox":true}')).toEqual({ ok: true, input: { channel: 'c', json: 'null', outbox: true } });
    expect(parse('{"channel":"c","payload":"text"}')).toMatchObject({ ok: true, input: { json: '"text"' } });
  });

  it.each([
    ['{"channel":', /not valid JSON/],
    ['[1]', /must be a JSON object/],
    ['{"payload":{}}', /channel must be a string/],
    ['{"channel":1,"payload":{}}', /channel must be a string/],
    ['{"channel":"c"}', /payload is missing/],
    ['{"channel":"c","payload":{},"outbox":"yes"}', /outbox must be true or false/],
    ['{"channel":"c","payload":{},"extra":1}', /unknown field "extra"/],
    ['{"channel":"","payload":{}}', /channel must not be empty/],
    [`{"channel":"c","payload":"${'x'.repeat(8000)}"}`, /a plain NOTIFY carries at most 7999/],
  ])('refuses %s', (body, message) => {
    const r = parse(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });

  it('refuses a body that is not UTF-8', () => {
    expect(parseSendBody(Uint8Array.from([0x7b, 0xff, 0x7d]))).toEqual({ ok: false, message: 'body is not UTF-8 text' });
  });
});

describe('isLoopback', () => {
  const v6 = (...groups: number[]) => {
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[i * 2] = g >> 8;
      b[i * 2 + 1] = g & 0xff;
    });
    return b.buffer;
  };
  it.each([
    ['127.0.0.1', Uint8Array.from([127, 0, 0, 1]).buffer, true],
    ['127.1.2.3', Uint8Array.from([127, 1, 2, 3]).buffer, true],
    ['192.0.2.2', Uint8Array.from([192, 0, 2, 2]).buffer, false],
    ['::1', v6(0, 0, 0, 0, 0, 0, 0, 1), true],
    ['::ffff:127.0.0.1', v6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1), true],
    ['::ffff:10.0.0.1', v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 1), false],
    ['fd00::2', v6(0xfd00, 0, 0, 0, 0, 0, 0, 2), false],
    ['no address', new ArrayBuffer(0), false],
  ])('%s → %s', (_name, address, expected) => {
    expect(isLoopback(address)).toBe(expected);
  });
});

describe('liveFeatures: defaults per role', () => {
  const DB = 'postgresql://postgres@127.0.0.1:5432/postgres';
  const features = async (role: 'start' | 'edge', env: Record<string, string>) => {
    const f = liveFeatures(role, loadConfig({ env: { DATABASE_URL: DB, ...env } }));
    await f.close();
    return { livePage: f.edge.livePage, send: f.edge.send !== undefined, loopbackOnly: f.edge.sendLoopbackOnly };
  };

  it('start: page on, send endpoint on for loopback clients; explicit settings win', async () => {
    expect(await features('start', {})).toEqual({ livePage: true, send: true, loopbackOnly: true });
    expect(await features('start', { NOTIFIER_SEND_ENDPOINT: '1' })).toEqual({ livePage: true, send: true, loopbackOnly: false });
    expect(await features('start', { NOTIFIER_LIVE_PAGE: 'off', NOTIFIER_SEND_ENDPOINT: 'off' })).toEqual({ livePage: false, send: false, loopbackOnly: undefined });
  });

  it('edge: both off unless asked; the send endpoint needs a database', async () => {
    expect(await features('edge', {})).toEqual({ livePage: false, send: false, loopbackOnly: undefined });
    expect(await features('edge', { NOTIFIER_LIVE_PAGE: '1' })).toEqual({ livePage: true, send: false, loopbackOnly: undefined });
    expect(await features('edge', { NOTIFIER_SEND_ENDPOINT: '1' })).toEqual({ livePage: false, send: true, loopbackOnly: false });
    expect(() => liveFeatures('edge', loadConfig({ env: { NOTIFIER_SEND_ENDPOINT: '1' } }))).toThrow(/set DATABASE_URL/);
  });
});

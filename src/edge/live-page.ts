/**
 * The live page (live-page.html, next to this module in src/ and, copied by the build, in dist/):
 * read once at start, served at GET / with an ETag and a Content-Security-Policy that allows
 * exactly its own inline script and style, and scripts from this server (the client SDK's
 * modules, GET /sdk/…, which the inline module imports), so nothing a notification carries can
 * run as code.
 *
 * May import node:crypto, node:fs and uws (types).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Uws } from './uws.js';

export interface LivePage {
  body: Buffer;
  etag: string;
  csp: string;
}

export const LIVE_PAGE_FILE = new URL('./live-page.html', import.meta.url);

export function loadLivePage(file: URL = LIVE_PAGE_FILE): LivePage {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the live page ${file.pathname} (${(err as Error).message}); run \`npm run build\`, which copies it into dist/`);
  }
  const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  const inline = (tag: string) => [...text.matchAll(new RegExp(`<${tag}(?: type="module")?>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => hash(m[1]!));
  const scripts = inline('script');
  const styles = inline('style');
  if (scripts.length === 0 || styles.length === 0) throw new Error(`the live page ${file.pathname} has no inline <script> or <style>`);
  const body = Buffer.from(text);
  return {
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    csp: [
      "default-src 'none'",
      // 'self': the SDK's modules. Nothing else here is served as JavaScript (JSON and HTML with
      // nosniff), so 'self' adds no script a notification could place.
      `script-src ${scripts.join(' ')} 'self'`,
      `style-src ${styles.join(' ')}`,
      // Fetches to this server; WebSockets to it or to another notifier the user types in.
      "connect-src 'self' ws: wss:",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  };
}

/** GET /: revalidated on every load (no-cache + ETag), so an upgraded server's page shows at once. */
export function serveLivePage(res: Uws.HttpResponse, req: Uws.HttpRequest, page: LivePage): void {
  const fresh = req
    .getHeader('if-none-match')
    .split(',')
    .some((tag) => tag.trim().replace(/^W\//, '') === page.etag);
  res.writeStatus(fresh ? '304 Not Modified' : '200 OK');
  res
    .writeHeader('content-type', 'text/html; charset=utf-8')
    .writeHeader('cache-control', 'no-cache')
    .writeHeader('etag', page.etag)
    .writeHeader('content-security-policy', page.csp)
    .writeHeader('x-content-type-options', 'nosniff')
    .writeHeader('referrer-policy', 'no-referrer');
  // Not endWithoutBody(length): uWS 20.30 then waits for that many bytes, and a handler that
  // returns with the response unfinished aborts the process.
  if (fresh) res.endWithoutBody();
  else res.end(page.body);
}

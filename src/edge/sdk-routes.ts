/**
 * The client SDK for browsers, as native ES modules without a bundler: GET /sdk/client/<file>.js
 * and GET /sdk/protocol/<file>.js serve the compiled files of dist/client and dist/protocol that
 * dist/client/index.js imports, directly or not (the live page imports /sdk/client/index.js).
 *
 * The allow-list is computed once, at start, by following the relative import statements from
 * index.js; the files are read then too (a few kilobytes). A request path is only ever a key of
 * that map, never joined into a filesystem path: anything else answers 404.
 *
 * May import node:crypto, node:fs, http-reply and uws (types). Not client/: the SDK is served as
 * bytes, never loaded by the edge.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { replyJson } from './http-reply.js';
import type { Uws } from './uws.js';

export interface SdkFile {
  body: Buffer;
  etag: string;
}

/** The compiled SDK's files by URL path (`/sdk/client/index.js`, `/sdk/protocol/filters.js`, …). */
export type SdkFiles = ReadonlyMap<string, SdkFile>;

export const SDK_PREFIX = '/sdk/';
export const SDK_ENTRY = '/sdk/client/index.js';

/**
 * dist/, where `npm run build` compiles client/ and protocol/: this module's parent directory when
 * it runs compiled (dist/edge/), or dist/ beside src/ when it runs from the TypeScript source (tests).
 */
export const SDK_ROOT = new URL(import.meta.url.endsWith('.ts') ? '../../dist/' : '../', import.meta.url);

/** The directories a browser may load from: the SDK and the protocol modules it imports. */
const SERVED_DIRS = ['client', 'protocol'];

// Static imports and re-exports, also over several lines: `import { a,\n b } from './x.js'`,
// `export * from './y.js'`, `import './z.js'`. The compiled SDK has no dynamic import().
const IMPORT = /(?:^|[;\s])(?:import|export)\s*(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/g;

/** The specifiers of `text`'s static import and export-from statements. */
export function importSpecifiers(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => m[1]!);
}

/**
 * Reads dist/client/index.js and every file it imports, transitively. Throws, naming the build
 * step, when a file is missing; and when an import leaves client/ and protocol/ or is not relative
 * (a browser without a bundler could not load it).
 */
export function loadSdkFiles(root: URL = SDK_ROOT): Map<string, SdkFile> {
  const files = new Map<string, SdkFile>();
  const queue = [SDK_ENTRY];
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    if (files.has(path)) continue;
    const file = new URL(path.slice(SDK_PREFIX.length), root);
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the client SDK file ${file.pathname} (${(err as Error).message}); run \`npm run build\`, which compiles it into dist/`);
    }
    files.set(path, { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    for (const specifier of importSpecifiers(body.toString('utf8'))) queue.push(resolveImport(path, specifier));
  }
  return files;
}

/** The URL path `specifier` names from `from`, checked to stay among the served files. */
function resolveImport(from: string, specifier: string): string {
  const refuse = (why: string) => new Error(`the client SDK's ${from} imports ${specifier}: ${why}, so a browser cannot load it from ${SDK_PREFIX}`);
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) throw refuse('not a relative path');
  const path = new URL(specifier, `http://sdk${from}`).pathname;
  const [dir, name, ...rest] = path.slice(SDK_PREFIX.length).split('/');
  if (!path.startsWith(SDK_PREFIX) || !SERVED_DIRS.includes(dir ?? '') || rest.length > 0 || !/^[\w.-]+\.js$/.test(name ?? '')) {
    throw refuse(`outside ${SERVED_DIRS.map((d) => `dist/${d}/`).join(' and ')}`);
  }
  return path;
}

/**
 * GET /sdk/*: the file the path names when it is on the list (revalidated on every load: no-cache
 * and an ETag, so an upgraded server's SDK is used at once), else 404.
 */
export function serveSdkFile(res: Uws.HttpResponse, req: Uws.HttpRequest, files: SdkFiles): void {
  const file = files.get(req.getUrl());
  if (file === undefined) return replyJson(res, '404 Not Found', { error: 'not found', sdk: [...files.keys()] });
  const fresh = req
    .getHeader('if-none-match')
    .split(',')
    .some((tag) => tag.trim().replace(/^W\//, '') === file.etag);
  res.writeStatus(fresh ? '304 Not Modified' : '200 OK');
  res
    .writeHeader('content-type', 'text/javascript; charset=utf-8')
    .writeHeader('cache-control', 'no-cache')
    .writeHeader('etag', file.etag)
    .writeHeader('x-content-type-options', 'nosniff');
  if (fresh) res.endWithoutBody();
  else res.end(file.body);
}

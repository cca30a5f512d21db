/**
 * The client SDK served to browsers (src/edge/sdk-routes.ts): the allow-list follows the compiled
 * SDK's imports from client/index.js and nothing else, and an import the browser could not load
 * from /sdk/ fails the start. On the real SDK compiled file by file (esbuild, no bundling: what
 * `npm run build` emits, without needing dist/) and on small fixtures.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { importSpecifiers, loadSdkFiles } from '../../src/edge/sdk-routes.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A dist-like directory with these files (`client/index.js`: text), as a directory URL. */
function fixture(files: Record<string, string>): URL {
  const root = mkdtempSync(join(tmpdir(), 'notifier-sdk-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return pathToFileURL(`${root}/`);
}

describe('importSpecifiers', () => {
  it('finds static imports and re-exports, also over several lines, and nothing in plain code', () => {
    const text = [
      "import { a,\n  b } from './a.js';",
      "import * as c from '../protocol/c.js';",
      "export { d } from './d.js';",
      'export * from "./e.js";',
      "import './side-effect.js';",
      "export const name = 'x';",
      "const s = 'import me';",
      'export function f() { return 1; }',
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['./a.js', '../protocol/c.js', './d.js', './e.js', './side-effect.js']);
  });
});

describe('loadSdkFiles', () => {
  it('on the real SDK: index.js and what it imports, transitively; no file it does not import', async () => {
    const root = mkdtempSync(join(tmpdir(), 'notifier-sdk-real-'));
    dirs.push(root);
    await build({ entryPoints: ['src/client/*.ts', 'src/protocol/*.ts'], outbase: 'src', outdir: root, format: 'esm', bundle: false, logLevel: 'silent' });
    const files = loadSdkFiles(pathToFileURL(`${root}/`));
    expect([...files.keys()].sort()).toEqual([
      '/sdk/client/client.js',
      '/sdk/client/emitter.js',
      '/sdk/client/handler-sets.js',
      '/sdk/client/index.js',
      '/sdk/client/socket.js',
      '/sdk/client/where.js',
      '/sdk/protocol/close-action.js',
      '/sdk/protocol/filters.js',
      '/sdk/protocol/offsets.js',
    ]);
    for (const file of files.values()) expect(file.etag).toMatch(/^"[\w-]{22}"$/);
  });

  it('follows imports across client/ and protocol/, each file once, and leaves the rest out', () => {
    const root = fixture({
      'client/index.js': "export { C } from './c.js';\nexport * from './c.js';",
      'client/c.js': "import { f,\n  g } from '../protocol/f.js';\nimport { h } from '../protocol/h.js';\nexport class C {}",
      'protocol/f.js': "import { h } from './h.js';\nexport const f = 1, g = 2;",
      'protocol/h.js': 'export const h = 3;',
      'protocol/secret.js': 'export const unused = 4;',
      'edge/server.js': 'export {};',
    });
    const files = loadSdkFiles(root);
    expect([...files.keys()]).toEqual(['/sdk/client/index.js', '/sdk/client/c.js', '/sdk/protocol/f.js', '/sdk/protocol/h.js']);
    expect(files.get('/sdk/protocol/h.js')!.body.toString()).toBe('export const h = 3;');
  });

  it.each([
    ['a package', "import pg from 'pg';", /imports pg: not a relative path/],
    ['a node: module', "import { readFileSync } from 'node:fs';", /imports node:fs: not a relative path/],
    ['an absolute path', "import x from '/etc/x.js';", /not a relative path/],
    ['another layer', "import { Edge } from '../edge/edge.js';", /imports \.\.\/edge\/edge\.js: outside dist\/client\/ and dist\/protocol\//],
    ['a path out of dist', "import x from '../../../etc/passwd.js';", /outside dist\/client\//],
    ['a subdirectory', "import x from './deep/x.js';", /outside dist\/client\//],
    ['a file that is not .js', "import x from './data.json';", /outside dist\/client\//],
  ])('refuses an SDK that imports %s: a browser could not load it from /sdk/', (_what, statement, message) => {
    expect(() => loadSdkFiles(fixture({ 'client/index.js': statement }))).toThrow(message);
  });

  it('names the build step when a file is missing', () => {
    expect(() => loadSdkFiles(fixture({}))).toThrow(/cannot read the client SDK file .*client\/index\.js .*run `npm run build`/);
    expect(() => loadSdkFiles(fixture({ 'client/index.js': "export * from './gone.js';" }))).toThrow(/client\/gone\.js .*npm run build/);
  });
});

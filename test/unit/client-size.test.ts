/**
 * The client SDK ships to browsers: bundled and minified (esbuild, a devDependency), it
 * must stay within 4 KB gzipped, and bundle nothing but src/client/ and src/protocol/. The React
 * hooks add at most 1 KB to it, and import nothing but `react` besides.
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('client SDK size', () => {
  it('is at most 4 KB minified and gzipped, with no runtime dependencies', async () => {
    const result = await build({
      entryPoints: ['src/client/index.ts'],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      write: false,
      metafile: true,
    });
    const bytes = result.outputFiles[0]!.contents;
    const gzipped = gzipSync(bytes, { level: 9 }).length;
    expect(gzipped).toBeLessThanOrEqual(4096);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => !/^src\/(client|protocol)\//.test(p))).toEqual([]);
  });

  it('with the React hooks, is at most 5 KB, and imports only react besides', async () => {
    const result = await build({
      entryPoints: ['src/react/index.ts'],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      write: false,
      metafile: true,
      external: ['react'],
    });
    const gzipped = gzipSync(result.outputFiles[0]!.contents, { level: 9 }).length;
    expect(gzipped).toBeLessThanOrEqual(5120);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => !/^src\/(client|protocol|react)\//.test(p))).toEqual([]);
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect([...new Set(imports)]).toEqual(['react']);
  });
});

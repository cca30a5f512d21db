/**
 * The client SDK ships to browsers: bundled and minified (esbuild, a devDependency), it
 * must stay within 4 KB gzipped, and bundle nothing but src/client/ and src/protocol/. The React
 * hooks add at most 1 KB to it, and import nothing but `react` besides.
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** Bundled and minified for browsers: its gzipped size, the source files in it, and what it imports. */
async function bundle(entry: string, external: string[] = []) {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2020', write: false, metafile: true, external });
  return {
    gzipped: gzipSync(result.outputFiles[0]!.contents, { level: 9 }).length,
    inputs: Object.keys(result.metafile.inputs),
    imports: [...new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)))],
  };
}

describe('client SDK size', () => {
  it('is at most 4 KB minified and gzipped, with no runtime dependencies', async () => {
    const { gzipped, inputs, imports } = await bundle('src/client/index.ts');
    expect(gzipped).toBeLessThanOrEqual(4096);
    expect(inputs.filter((p) => !/^src\/(client|protocol)\//.test(p))).toEqual([]);
    expect(imports).toEqual([]);
  });

  it('with the React hooks, is at most 5 KB, and imports only react besides', async () => {
    const { gzipped, inputs, imports } = await bundle('src/react/index.ts', ['react']);
    expect(gzipped).toBeLessThanOrEqual(5120);
    expect(inputs.filter((p) => !/^src\/(client|protocol|react)\//.test(p))).toEqual([]);
    expect(imports).toEqual(['react']);
  });
});

/**
 * The client SDK ships to browsers: bundled and minified (esbuild, a devDependency), it
 * must stay within 4 KB gzipped, and bundle nothing but src/client/ and src/protocol/.
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
});

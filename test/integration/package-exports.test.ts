/**
 * The package's entry points as an application gets them: `npm pack` ships dist/client and
 * dist/react with their declarations, and `notifier/client` and `notifier/react` resolve through
 * package.json `exports`, by package name: from inside the checkout (self-reference) and from
 * another project that has the package in its node_modules, in Node and for tsc. Needs
 * `npm run build` first, like every test that runs dist/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const IMPORT_BOTH = `
const client = await import('notifier/client');
const react = await import('notifier/react');
console.log(JSON.stringify({ client: Object.keys(client).sort(), react: Object.keys(react).sort() }));
`;

/** The exports of both entry points, imported by name by a module in `cwd`. */
function importBoth(cwd: string): { client: string[]; react: string[] } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', IMPORT_BOTH], { cwd, encoding: 'utf8' });
  return JSON.parse(out) as { client: string[]; react: string[] };
}

/** A project beside the checkout with `notifier` in its node_modules (linked, as `npm install file:…` does). */
function consumerProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'notifier-consumer-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'notifier'), 'dir');
  // The application's own React, as it would have installed it.
  mkdirSync(join(dir, 'node_modules', '@types'));
  for (const name of ['react', '@types/react']) symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { notifier: `file:${ROOT}` } }));
  return dir;
}

describe('package entry points', () => {
  it('npm pack ships both entry points with their declarations, and the CLI', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files = new Set((JSON.parse(out) as [{ files: { path: string }[] }])[0].files.map((f) => f.path));
    for (const f of ['dist/cli.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/react/index.js', 'dist/react/index.d.ts', 'dist/protocol/filters.js', 'package.json']) {
      expect(files, f).toContain(f);
    }
    expect([...files].filter((f) => /^(src|test|examples)\//.test(f))).toEqual([]);
  });

  it('resolves notifier/client and notifier/react by name, from the checkout and from another project', () => {
    for (const got of [importBoth(ROOT), importBoth(consumerProject())]) {
      expect(got.client).toContain('NotifierClient');
      expect(got.react).toEqual(expect.arrayContaining(['NotifierProvider', 'useNotifierClient', 'useConnectionState', 'useNotifications', 'useEntityNotifications']));
    }
  });

  it('gives tsc the declarations of both entry points', () => {
    const dir = consumerProject();
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, jsx: 'react-jsx', noEmit: true, types: [] }, files: ['app.tsx'] }),
    );
    writeFileSync(
      join(dir, 'app.tsx'),
      `import { NotifierClient, type Notification } from 'notifier/client';
import { NotifierProvider, useEntityNotifications, useNotifications } from 'notifier/react';

function Failed() {
  const { notifications, state } = useNotifications('entity_type:execution', { max: 10, where: { status: { in: ['failed'] } } });
  const one = useEntityNotifications('execution', 123, { onNotification: (n: Notification) => void n.entity_id });
  const count: number = one.count;
  return <p>{state} {notifications.length} {count}</p>;
}
export const app = (client: NotifierClient) => <NotifierProvider client={client}><Failed /></NotifierProvider>;
// @ts-expect-error: the hooks' options are typed
useNotifications('all', { max: 'ten' });
`,
    );
    try {
      execFileSync(process.execPath, [TSC, '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      throw new Error(`tsc found errors in a consumer of the declarations:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
    }
  });
});

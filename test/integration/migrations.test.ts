/**
 * `notifier migrate`: idempotent, and safe when several nodes migrate at once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
let db: TestDatabase | undefined;

afterEach(async () => {
  await db?.drop();
  db = undefined;
});

function migrate(url: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'migrate'], {
      env: { PATH: process.env['PATH'], DATABASE_URL: url, LOG_LEVEL: 'info' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

it('four concurrent migrations all succeed and apply each migration once', async () => {
  db = await createTestDatabase();
  const results = await Promise.all([1, 2, 3, 4].map(() => migrate(db!.url)));
  for (const r of results) expect(r.code, r.out).toBe(0);
  const applied = results.filter((r) => /applied 1 migration/.test(r.out));
  expect(applied).toHaveLength(1);
  const rows = await db.sql<{ name: string }>(`SELECT name FROM notifier.migrations`);
  expect(rows.map((r) => r.name)).toEqual(['1764000000000_outbox']);
});

it('is idempotent', async () => {
  db = await createTestDatabase();
  expect((await migrate(db.url)).code).toBe(0);
  const again = await migrate(db.url);
  expect(again.code).toBe(0);
  expect(again.out).toMatch(/database schema is up to date/);
});

it('creates the outbox API: publish returns the id; row_notify rejects misuse clearly', async () => {
  db = await createTestDatabase();
  expect((await migrate(db.url)).code).toBe(0);
  const [a] = await db.sql<{ id: string }>(`SELECT notifier.publish('x', '{"a":1}') AS id`);
  const [b] = await db.sql<{ id: string }>(`SELECT notifier.publish('x', '{"a":2}') AS id`);
  expect(Number(b?.id)).toBe(Number(a?.id) + 1);
  await expect(db.sql(`SELECT notifier.publish('', '{}')`)).rejects.toThrow(/channel must not be empty/);
  await db.sql(`CREATE TABLE t (id int)`);
  await db.sql(`CREATE TRIGGER t_bad AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION notifier.row_notify()`);
  await expect(db.sql(`INSERT INTO t VALUES (1)`)).rejects.toThrow(/pass the entity type/);
  // An application role without any grant on the outbox can still publish.
  await db.sql(`DROP ROLE IF EXISTS notifier_test_app`).catch(() => undefined);
  await db.sql(`CREATE ROLE notifier_test_app`);
  try {
    await db.sql(`SET ROLE notifier_test_app; SELECT notifier.publish('x', '{"a":3}'); RESET ROLE;`);
    await expect(db.sql(`SET ROLE notifier_test_app; SELECT * FROM notifier.outbox`)).rejects.toThrow(/permission denied/);
  } finally {
    await db.sql(`DROP OWNED BY notifier_test_app; DROP ROLE notifier_test_app`).catch(() => undefined);
  }
});

/**
 * `notifier notify <channel> <json> [--outbox]`: through DATABASE_URL, or through the state file
 * of a running `notifier start` on the data directory; exit 2 for bad input, 1 for a database
 * that is missing, unreachable or refuses, with the password masked. (The banner's example
 * against a real embedded PostgreSQL runs in embedded.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startTimeOf } from '../../src/embedded/process-info.js';
import { ProcessGroup, runToEnd, type RunResult } from '../helpers/processes.js';
import { createTestDatabase, serviceUrls, type TestDatabase } from '../helpers/services.js';
import { TestClient } from '../helpers/ws-client.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const group = new ProcessGroup();
const dbs: TestDatabase[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await group.killAll();
  for (const db of dbs) await db.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  dbs.push(db);
  return db;
}

function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'notifier-notify-')));
  dirs.push(dir);
  return dir;
}

/** Runs `notifier notify …` to its end, without blocking the event loop. */
function notify(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runToEnd(process.execPath, [CLI, 'notify', ...args], { PATH: process.env['PATH'], ...env });
}

/** Resolves with the payload of the first notification on `channel` in `db`. */
async function listen(db: TestDatabase, channel: string): Promise<{ received: Promise<string | undefined>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url });
  client.on('error', () => undefined);
  await client.connect();
  const received = new Promise<string | undefined>((resolve) => client.on('notification', (n) => n.channel === channel && resolve(n.payload)));
  await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
  return { received, close: () => client.end() };
}

describe('notifier notify through DATABASE_URL', () => {
  it('sends a plain NOTIFY and, with --outbox, through notifier.publish; both reach WebSocket clients', async () => {
    const db = await database();
    const proc = group.spawn(['start'], { DATABASE_URL: db.url, REDIS_URL: '' });
    const port = await proc.port();
    await proc.waitForEvent('leader:listen:success');
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await c.subscribe('entity_type:execution');

    const plain = await notify(['execution_status_changed', '{"entity_type":"execution","entity_id":123}'], { DATABASE_URL: db.url });
    expect(plain).toMatchObject({ status: 0, stderr: '' });
    expect(plain.stdout).toBe(`sent as a plain NOTIFY on channel execution_status_changed to ${db.url}\n`);
    await c.waitForNotifications(1);

    const outbox = await notify(['execution_created', '{"entity_type":"execution","entity_id":124}', '--outbox'], { DATABASE_URL: db.url });
    expect(outbox).toMatchObject({ status: 0, stderr: '' });
    expect(outbox.stdout).toContain('sent through the outbox (notifier.publish) on channel execution_created');
    const got = await c.waitForNotifications(2);
    expect(got.map((n) => [n['notification_type'], n['entity_id']])).toEqual([
      ['execution_status_changed', 123],
      ['execution_created', 124],
    ]);
    c.close();
    expect(await proc.kill('SIGTERM')).toBe(0);
  });

  it('sends a plain NOTIFY on a channel outside NOTIFIER_CHANNELS, with a note that listeners do not hear it', async () => {
    const db = await database();
    const l = await listen(db, 'my_channel');
    try {
      const r = await notify(['my_channel', '{"x":1}'], { DATABASE_URL: db.url });
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/note: my_channel is not in NOTIFIER_CHANNELS.*--outbox/);
      expect(await l.received).toBe('{"x":1}');
    } finally {
      await l.close();
    }
  });
});

describe('bad input: exit 2, before any database is involved', () => {
  it.each([
    ['JSON cut short', ['ch', '{"entity_id":'], /payload is not valid JSON/],
    ['not JSON', ['ch', 'not json'], /payload is not valid JSON/],
    ['an empty channel', ['', '{}'], /channel must not be empty/],
    ['a 64-byte channel', ['c'.repeat(64), '{}'], /channel is longer than 63 bytes/],
    ['a plain payload over 7999 bytes', ['ch', JSON.stringify({ s: 'x'.repeat(8000) })], /at most 7999: send it through the outbox \(--outbox\)/],
    ['one argument', ['ch'], /notify takes 2 arguments, got 1/],
    ['three arguments', ['ch', '{}', 'extra'], /notify takes 2 arguments, got 3/],
  ] as const)('%s', async (_name, args, message) => {
    // An unreachable database: a request that got that far would exit 1, not 2.
    const r = await notify([...args], { DATABASE_URL: 'postgresql://u:pw@127.0.0.1:1/x' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('--outbox belongs to notify only', () => {
    const r = spawnSync(process.execPath, [CLI, 'migrate', '--outbox'], { env: { PATH: process.env['PATH'] }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--outbox is an option of notify only/);
  });
});

describe('a database that is missing, unreachable or refuses: exit 1, password masked', () => {
  const cases: [string, (admin: string) => string, RegExp][] = [
    ['a closed port', () => 'postgresql://app:s3cret@127.0.0.1:1/app', /cannot connect to PostgreSQL at postgresql:\/\/app:\*\*\*@127\.0\.0\.1:1\/app: connect ECONNREFUSED/],
    ['an unknown host', () => 'postgresql://app:s3cret@no-such-host.invalid/app', /cannot connect to PostgreSQL at postgresql:\/\/app:\*\*\*@no-such-host\.invalid\/app: getaddrinfo ENOTFOUND/],
    [
      'a database that does not exist',
      (admin) => Object.assign(new URL(admin), { pathname: '/no_such_db_notifier', password: 's3cret' }).toString(),
      /cannot connect to PostgreSQL at postgresql:\/\/[^ ]*:\*\*\*@[^ ]*\/no_such_db_notifier: database "no_such_db_notifier" does not exist\. Check DATABASE_URL\./,
    ],
  ];
  it.each(cases)('%s', async (_name, urlOf, message) => {
    const url = urlOf(serviceUrls().databaseUrl);
    const r = await notify(['execution_status_changed', '{"entity_id":1}'], { DATABASE_URL: url });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stdout + r.stderr).not.toContain('s3cret');
  });

  it('--outbox on a database without the notifier schema says to migrate', async () => {
    const db = await database();
    const r = await notify(['execution_status_changed', '{"entity_id":1}', '--outbox'], { DATABASE_URL: db.url });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/notifier\.publish does not exist in this database: run `notifier migrate` first/);
  });
});

describe('without DATABASE_URL: the PostgreSQL of a running `notifier start`', () => {
  /** A state file as `notifier start` writes it, held by this (live) test process. */
  function stateFile(dataDir: string, state: Record<string, unknown>): void {
    writeFileSync(`${dataDir}.running.json`, JSON.stringify({ pid: process.pid, startTime: startTimeOf(process.pid), dataDir, ...state }));
  }

  it('uses the DATABASE_URL in the state file next to the data directory', async () => {
    const db = await database();
    const dataDir = join(tempDir(), 'pg');
    stateFile(dataDir, { databaseUrl: db.url });
    const l = await listen(db, 'execution_status_changed');
    try {
      const r = await notify(['execution_status_changed', '{"entity_id":7}'], { NOTIFIER_DATA_DIR: dataDir });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(await l.received).toBe('{"entity_id":7}');
    } finally {
      await l.close();
    }
  });

  it('says to run `notifier start` or set DATABASE_URL when none runs (no state file, or its notifier died)', async () => {
    const dataDir = join(tempDir(), 'pg');
    const none = await notify(['execution_status_changed', '{}'], { NOTIFIER_DATA_DIR: dataDir });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain(`DATABASE_URL is not set, and no \`notifier start\` runs with an embedded PostgreSQL on ${dataDir}`);
    expect(none.stderr).toMatch(/Run `npx notifier start` in this directory first .*or set DATABASE_URL/);

    const dead = spawnSync('true').pid;
    writeFileSync(`${dataDir}.running.json`, JSON.stringify({ pid: dead, dataDir, databaseUrl: 'postgresql://postgres:pw@127.0.0.1:1/postgres' }));
    const stale = await notify(['execution_status_changed', '{}'], { NOTIFIER_DATA_DIR: dataDir });
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('no `notifier start` runs with an embedded PostgreSQL');
  });

  it('says so while that notifier is still starting its PostgreSQL', async () => {
    const dataDir = join(tempDir(), 'pg');
    stateFile(dataDir, {});
    const r = await notify(['execution_status_changed', '{}'], { NOTIFIER_DATA_DIR: dataDir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`\`notifier start\` (pid ${process.pid}) is still starting its PostgreSQL on ${dataDir}`);
  });
});

/**
 * The `notifier` command as users run it: standalone mode without Redis, usage and
 * configuration errors, unreachable services, the uWebSockets.js fallback guard.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitLeaderSeen, waitReady } from '../helpers/cluster.js';
import { ProcessGroup } from '../helpers/processes.js';
import { createTestDatabase, serviceUrls, type TestDatabase } from '../helpers/services.js';
import { TestClient } from '../helpers/ws-client.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const group = new ProcessGroup();
const dbs: TestDatabase[] = [];

afterAll(async () => {
  await group.killAll();
  for (const db of dbs) await db.drop();
});

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('notifier start (standalone, no Redis)', () => {
  it('migrates, then delivers a plain NOTIFY and an outbox notification', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const proc = group.spawn(['start'], { DATABASE_URL: db.url, REDIS_URL: '' });
    const port = await proc.port();
    await proc.waitForEvent('bus:memory');
    await waitReady(`http://127.0.0.1:${port}`);
    await waitLeaderSeen(`http://127.0.0.1:${port}`);
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await c.subscribe('entity_type:execution');
    await db.sql(`NOTIFY execution_status_changed, '{"entity_type":"execution","entity_id":123}'`);
    await db.sql(`SELECT notifier.publish('execution_created', '{"entity_type":"execution","entity_id":124}')`);
    const got = await c.waitForNotifications(2);
    expect(got.map((n) => [n['notification_type'], n['entity_id']])).toEqual([
      ['execution_status_changed', 123],
      ['execution_created', 124],
    ]);
    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({ connected_clients: 1, total_subscriptions: 1, listener_role: 'leader' });
    c.close();
    expect(await proc.kill('SIGTERM')).toBe(0);
    expect(proc.logs.some((l) => l.event === 'leader:released' && l['reason'] === 'shutdown')).toBe(true);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('closes open connections with 1012 on %s', async (signal) => {
    const db = await createTestDatabase();
    dbs.push(db);
    const proc = group.spawn(['start'], { DATABASE_URL: db.url, NOTIFIER_DRAIN_SECONDS: '0.2' });
    const port = await proc.port();
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    void proc.kill(signal);
    expect(await c.closed()).toBe(1012);
    expect(await proc.exited).toBe(0);
  });
});

describe('ports', () => {
  it('an edge refuses a port another edge already holds (no silent sharing)', async () => {
    const first = group.spawn(['edge'], { NOTIFIER_AUTH: 'none', REDIS_URL: serviceUrls().redisUrl });
    const port = await first.port();
    const second = run(['edge'], { NOTIFIER_AUTH: 'none', REDIS_URL: serviceUrls().redisUrl, PORT: String(port), HOST: '127.0.0.1' });
    expect(second.status).toBe(1);
    expect(second.stdout).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    await first.kill('SIGTERM');
  });
});

describe('usage and configuration errors', () => {
  it('prints help', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: notifier <command>/);
    for (const cmd of ['start', 'listener', 'edge', 'migrate']) expect(r.stdout).toContain(cmd);
  });

  it('rejects an unknown command or flag with exit code 2', () => {
    expect(run(['serve']).status).toBe(2);
    expect(run(['serve']).stderr).toMatch(/unknown command "serve"/);
    expect(run([]).status).toBe(2);
    expect(run(['start', '--bogus']).status).toBe(2);
  });

  it('exits 2 naming the key for invalid configuration', () => {
    const r = run(['start'], { PORT: 'eighty' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/PORT \(environment\)/);
    const level = run(['start', '--log-level', 'loud']);
    expect(level.status).toBe(2);
    expect(level.stderr).toMatch(/logLevel \(command-line flag\)/);
    const missing = run(['start', '--config', '/nonexistent/notifier.yaml']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--config \/nonexistent\/notifier.yaml: cannot read file/);
  });

  it('requires REDIS_URL for listener and edge', () => {
    for (const role of ['listener', 'edge']) {
      const r = run([role], { REDIS_URL: '' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`REDIS_URL is required for \`notifier ${role}\``));
    }
  });

  it('names an unreachable PostgreSQL with the password masked, and keeps retrying', async () => {
    const proc = group.spawn(['listener'], {
      DATABASE_URL: 'postgresql://app:s3cret@127.0.0.1:1/app',
      REDIS_URL: serviceUrls().redisUrl,
    });
    const line = await proc.waitForEvent('pg:connection:error');
    expect(String(line.msg)).toContain('postgresql://app:***@127.0.0.1:1/app');
    expect(String(line.msg)).toMatch(/Check DATABASE_URL/);
    expect(JSON.stringify(proc.logs)).not.toContain('s3cret');
    // Still alive and retrying, and reports not ready.
    const port = await proc.port();
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(503);
    expect(proc.child.exitCode).toBeNull();
  });

  it('names an unreachable Redis with the password masked', async () => {
    const proc = group.spawn(['edge'], { NOTIFIER_AUTH: 'none', REDIS_URL: 'redis://:hunter2@127.0.0.1:1' });
    const line = await proc.waitForEvent('redis:connection:error');
    expect(String(line.msg)).toContain('redis://:***@127.0.0.1:1');
    expect(JSON.stringify(proc.logs)).not.toContain('hunter2');
    const port = await proc.port();
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(503);
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toEqual({ status: 'ok' });
    // Stops cleanly on SIGTERM even though it never reached Redis.
    expect(await proc.kill('SIGTERM')).toBe(0);
  });

  it('a listener that never reached PostgreSQL stops cleanly on SIGTERM', async () => {
    const proc = group.spawn(['listener'], { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/x', REDIS_URL: 'redis://127.0.0.1:1' });
    await proc.waitForEvent('pg:connection:error');
    expect(await proc.kill('SIGTERM')).toBe(0);
  });

  it('migrate exits 1 with the reason when PostgreSQL is unreachable', () => {
    const r = run(['migrate'], { DATABASE_URL: 'postgresql://postgres:pw@127.0.0.1:1/postgres' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/cannot connect to PostgreSQL at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres/);
  });
});

describe('uWebSockets.js fallback guard', () => {
  it('refuses to start an edge on the ws fallback', () => {
    const r = run(['edge'], { NOTIFIER_AUTH: 'none', REDIS_URL: serviceUrls().redisUrl, UWS_USE_FALLBACK: '1', PORT: '0' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/fell back to a slow ws-based shim/);
    expect(r.stdout).toMatch(/NOTIFIER_ALLOW_UWS_FALLBACK=1/);
  });

  it('starts on the fallback when explicitly allowed, and says so', async () => {
    const proc = group.spawn(['edge'], {
      NOTIFIER_AUTH: 'none',
      REDIS_URL: serviceUrls().redisUrl,
      UWS_USE_FALLBACK: '1',
      NOTIFIER_ALLOW_UWS_FALLBACK: '1',
    });
    await proc.waitForEvent('edge:uws:fallback');
    await proc.kill('SIGTERM');
  });

  it('loads the native binary here', async () => {
    const { loadUws } = await import('../../src/edge/uws.js');
    expect(loadUws(false).native).toBe(true);
  });
});

describe('V8 defaults (src/v8-defaults.ts)', () => {
  const UNREACHABLE_DB = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/postgres', LOG_LEVEL: 'debug' };
  const v8Log = (stdout: string) =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['event'] === 'process:v8');

  it("every command runs with notifier's young generation from its start, and says so at debug level", () => {
    const r = run(['migrate'], UNREACHABLE_DB);
    const log = v8Log(r.stdout);
    expect(log).toMatchObject({ youngGeneration: '--semi-space-growth-factor=1', source: 'notifier' });
    // Set before notifier's modules load: loading them grew it to 8 MB when set after.
    expect(log?.['newSpaceBytes']).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it("the operator's NODE_OPTIONS wins", () => {
    const r = run(['migrate'], { ...UNREACHABLE_DB, NODE_OPTIONS: '--max-semi-space-size=8' });
    expect(v8Log(r.stdout)).toMatchObject({ youngGeneration: '--max-semi-space-size=8', source: 'operator' });
  });

  // The effect itself, in a process that loads the module the way cli.ts does (first) and then
  // retains 200k objects while making garbage: the new space stays at its initial 1 MB
  // semi-spaces (2 MB) unless the operator sized it.
  const NEW_SPACE_MB = `
    import v8 from 'node:v8';
    const keep = [];
    for (let i = 0; i < 200000; i++) keep.push({ i, s: 'x' + i });
    let junk;
    for (let i = 0; i < 2000000; i++) junk = { i, a: [i] };
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(s.space_size / 1048576, keep.length, typeof junk);`;
  const newSpaceMb = (nodeOptions: string) => {
    const r = spawnSync(process.execPath, ['--import', fileURLToPath(new URL('../../dist/v8-defaults.js', import.meta.url)), '--input-type=module', '-e', NEW_SPACE_MB], {
      env: { PATH: process.env['PATH'], NODE_OPTIONS: nodeOptions },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    return Number(r.stdout.split(' ')[0]);
  };

  it('keeps the new space at 1 MB semi-spaces; NODE_OPTIONS=--max-semi-space-size=8 lets it grow', () => {
    expect(newSpaceMb('')).toBeLessThanOrEqual(2);
    expect(newSpaceMb('--max-semi-space-size=8')).toBeGreaterThan(8);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { configError } from '../helpers/config-error.js';
import { DEFAULT_CHANNELS, DEFAULT_DATABASE_URL, ENV_NAMES, configSchema, withDefaultDatabase } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'notifier-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('loadConfig: defaults', () => {
  it('runs on a developer machine with no settings at all', () => {
    const c = loadConfig({ env: {} });
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      channels: DEFAULT_CHANNELS,
      logLevel: 'info',
      redisPrefix: 'notifier',
      migrate: true,
      outboxEnabled: true,
      outboxPollMs: 500,
      leaderHeartbeatMs: 1000,
      leaderQueryTimeoutMs: 3000,
      pgSessionTimeoutMs: 8000,
      redisCommandTimeoutMs: 5000,
      maxSubscriptions: 100,
      maxFrameBytes: 16 * 1024,
      idleTimeoutSeconds: 120,
      allowUwsFallback: false,
      dataDir: './.notifier/postgres',
    });
    expect(c.redisUrl).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('leaves DATABASE_URL unset (`start` then embeds a PostgreSQL); listener and migrate default to a local one', () => {
    const c = loadConfig({ env: {} });
    expect(c.databaseUrl).toBeUndefined();
    expect(loadConfig({ env: { DATABASE_URL: '' } }).databaseUrl).toBeUndefined();
    expect(withDefaultDatabase(c).databaseUrl).toBe('postgresql://postgres@localhost:5432/postgres');
    expect(DEFAULT_DATABASE_URL).toBe('postgresql://postgres@localhost:5432/postgres');
    const set = loadConfig({ env: { DATABASE_URL: 'postgres://app@db/app' } });
    expect(withDefaultDatabase(set).databaseUrl).toBe('postgres://app@db/app');
  });

  it('the default channels are the ones DESIGN §2 lists', () => {
    expect(DEFAULT_CHANNELS).toEqual([
      'execution_status_changed',
      'execution_created',
      'inquiry_created',
      'inquiry_responded',
      'enforcement_created',
      'event_created',
      'workflow_execution_status_changed',
    ]);
  });

  it('does not read process.env when env is given', () => {
    const saved = process.env['PORT'];
    process.env['PORT'] = 'not-a-port';
    try {
      expect(loadConfig({ env: {} }).port).toBe(8080);
    } finally {
      if (saved === undefined) delete process.env['PORT'];
      else process.env['PORT'] = saved;
    }
  });

  it('every setting has a distinct environment variable', () => {
    const names = Object.values(ENV_NAMES);
    expect(new Set(names).size).toBe(names.length);
    expect(Object.keys(ENV_NAMES).sort()).toEqual(Object.keys(configSchema.shape).sort());
  });

  it('an empty YAML file means defaults', () => {
    expect(loadConfig({ env: {}, file: yamlFile('') })).toEqual(loadConfig({ env: {} }));
    expect(loadConfig({ env: {}, file: yamlFile('# only a comment\n') })).toEqual(loadConfig({ env: {} }));
  });
});

describe('loadConfig: sources and precedence', () => {
  it('reads environment variables, coercing numbers and booleans', () => {
    const c = loadConfig({
      env: {
        DATABASE_URL: 'postgres://app:pw@db:5432/app',
        REDIS_URL: 'redis://cache:6379/0',
        HOST: '127.0.0.1',
        PORT: '9000',
        LOG_LEVEL: 'debug',
        NOTIFIER_MIGRATE: 'false',
        NOTIFIER_OUTBOX: 'off',
        NOTIFIER_ALLOW_UWS_FALLBACK: ' YES ',
        NOTIFIER_MAX_SUBSCRIPTIONS: '7',
        NOTIFIER_REDIS_PREFIX: 'app.notifier-2',
      },
    });
    expect(c).toMatchObject({
      databaseUrl: 'postgres://app:pw@db:5432/app',
      redisUrl: 'redis://cache:6379/0',
      host: '127.0.0.1',
      port: 9000,
      logLevel: 'debug',
      migrate: false,
      outboxEnabled: false,
      allowUwsFallback: true,
      maxSubscriptions: 7,
      redisPrefix: 'app.notifier-2',
    });
  });

  it.each([
    ['1', true],
    ['true', true],
    ['On', true],
    ['yes', true],
    ['0', false],
    ['FALSE', false],
    ['no', false],
    ['off', false],
  ])('reads the boolean %j as %s', (text, value) => {
    expect(loadConfig({ env: { NOTIFIER_MIGRATE: text } }).migrate).toBe(value);
  });

  it('splits NOTIFIER_CHANNELS on commas, trimming blanks and dropping empty entries', () => {
    expect(loadConfig({ env: { NOTIFIER_CHANNELS: 'a, b ,,c,' } }).channels).toEqual(['a', 'b', 'c']);
    expect(loadConfig({ env: { NOTIFIER_CHANNELS: 'only_one' } }).channels).toEqual(['only_one']);
  });

  it('reads a YAML file by field name', () => {
    const file = yamlFile(
      [
        'port: 7000',
        'redisUrl: rediss://user:secret@cache:6380',
        'channels:',
        '  - orders',
        '  - "invoices"',
        'migrate: no', // a string in YAML 1.2, accepted like the env form
        'outboxPollMs: "250"',
        'allowUwsFallback: true',
      ].join('\n'),
    );
    const c = loadConfig({ env: {}, file });
    expect(c).toMatchObject({
      port: 7000,
      redisUrl: 'rediss://user:secret@cache:6380',
      channels: ['orders', 'invoices'],
      migrate: false,
      outboxPollMs: 250,
      allowUwsFallback: true,
    });
  });

  it('accepts a comma list for channels in YAML too', () => {
    expect(loadConfig({ env: {}, file: yamlFile('channels: "x,y"\n') }).channels).toEqual(['x', 'y']);
  });

  it('the environment overrides the file, and flags override both', () => {
    const file = yamlFile('port: 7000\nlogLevel: warn\nhost: filehost\n');
    const c = loadConfig({ env: { PORT: '7001', LOG_LEVEL: 'error' }, file });
    expect(c.port).toBe(7001);
    expect(c.logLevel).toBe('error');
    expect(c.host).toBe('filehost');
    const flagged = loadConfig({ env: { LOG_LEVEL: 'error' }, file, overrides: { logLevel: 'trace', port: undefined } });
    expect(flagged.logLevel).toBe('trace');
    expect(flagged.port).toBe(7000);
  });

  it('the environment overrides file channels with its comma list', () => {
    const file = yamlFile('channels: [a, b]\n');
    expect(loadConfig({ env: { NOTIFIER_CHANNELS: 'c' }, file }).channels).toEqual(['c']);
  });

  it('REDIS_URL set to the empty string means no Redis (in-process bus), even over the file', () => {
    expect(loadConfig({ env: { REDIS_URL: '' } }).redisUrl).toBeUndefined();
    const file = yamlFile('redisUrl: redis://cache:6379\n');
    expect(loadConfig({ env: {}, file }).redisUrl).toBe('redis://cache:6379');
    expect(loadConfig({ env: { REDIS_URL: '' }, file }).redisUrl).toBeUndefined();
    expect(loadConfig({ env: {}, file: yamlFile('redisUrl: null\n') }).redisUrl).toBeUndefined();
  });
});

describe('loadConfig: validation errors name the bad key', () => {
  it('names the environment variable of an invalid value', () => {
    const err = configError({ env: { PORT: 'abc' } });
    expect(err.name).toBe('ConfigError');
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^PORT \(environment\): .*; got "abc"$/);
    expect(err.message).toContain('invalid configuration');
    expect(err.message).toContain('PORT (environment)');
  });

  it.each([
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['NOTIFIER_OUTBOX_POLL_MS', '5'],
    ['NOTIFIER_MAX_SUBSCRIPTIONS', '0'],
    ['LOG_LEVEL', 'verbose'],
    ['NOTIFIER_REDIS_PREFIX', 'has space'],
    ['NOTIFIER_REDIS_PREFIX', ''],
    ['NOTIFIER_MIGRATE', 'maybe'],
    ['HOST', ''],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://db/app'],
    ['REDIS_URL', 'http://cache:6379'],
    ['NOTIFIER_IDLE_TIMEOUT_SECONDS', '5'],
  ])('rejects %s=%j, naming the variable', (name, value) => {
    const err = configError({ env: { [name]: value } });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^${name} \\(environment\\): `));
  });

  // An empty variable (e.g. `PORT=` in a compose file) must not silently become 0: that would
  // bind a random port, disable the idle timeout, or take advisory lock 0.
  it.each(['PORT', 'NOTIFIER_IDLE_TIMEOUT_SECONDS', 'NOTIFIER_LOCK_ID', 'NOTIFIER_DRAIN_SECONDS'])(
    'rejects an empty or blank %s instead of reading it as 0',
    (name) => {
      for (const value of ['', '  ']) {
        const err = configError({ env: { [name]: value } });
        expect(err.problems).toHaveLength(1);
        expect(err.problems[0]).toMatch(new RegExp(`^${name} \\(environment\\): `));
      }
    },
  );

  it('refuses a renamed setting, naming the new one', () => {
    const err = configError({ env: { NOTIFIER_SHUTDOWN_GRACE_MS: '5000' } });
    expect(err.problems).toEqual(['NOTIFIER_SHUTDOWN_GRACE_MS (environment): renamed; use NOTIFIER_DRAIN_SECONDS (in seconds, e.g. 10)']);
  });

  it('reads NOTIFIER_DRAIN_SECONDS in seconds, decimals allowed', () => {
    expect(loadConfig({ env: {} }).drainSeconds).toBe(10);
    expect(loadConfig({ env: { NOTIFIER_DRAIN_SECONDS: '0.25' } }).drainSeconds).toBe(0.25);
    expect(configError({ env: { NOTIFIER_DRAIN_SECONDS: '601' } }).problems[0]).toMatch(/^NOTIFIER_DRAIN_SECONDS \(environment\): /);
  });

  it('accepts the boundary values of a range', () => {
    expect(loadConfig({ env: { PORT: '0' } }).port).toBe(0);
    expect(loadConfig({ env: { PORT: '65535' } }).port).toBe(65535);
    expect(loadConfig({ env: { NOTIFIER_IDLE_TIMEOUT_SECONDS: '0' } }).idleTimeoutSeconds).toBe(0);
    expect(loadConfig({ env: { NOTIFIER_IDLE_TIMEOUT_SECONDS: '8' } }).idleTimeoutSeconds).toBe(8);
  });

  it('reports every problem at once', () => {
    const err = configError({ env: { PORT: 'x', LOG_LEVEL: 'loud', NOTIFIER_MIGRATE: '2' } });
    expect(err.problems).toHaveLength(3);
    expect(err.message).toContain('PORT (environment)');
    expect(err.message).toContain('LOG_LEVEL (environment)');
    expect(err.message).toContain('NOTIFIER_MIGRATE (environment)');
  });

  it('names the index of a bad channel', () => {
    const err = configError({ env: { NOTIFIER_CHANNELS: `ok,${'x'.repeat(64)}` } });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^NOTIFIER_CHANNELS \(environment\)\[1\]: channel name is longer than 63 bytes/);
  });

  it('measures channel names in bytes, not characters', () => {
    expect(loadConfig({ env: { NOTIFIER_CHANNELS: 'é'.repeat(31) } }).channels).toEqual(['é'.repeat(31)]);
    expect(configError({ env: { NOTIFIER_CHANNELS: 'é'.repeat(32) } }).problems[0]).toContain('63 bytes');
  });

  it('rejects control characters in a channel name (from YAML)', () => {
    const file = yamlFile('channels: ["ok", "bad\\tname"]\n');
    const err = configError({ env: {}, file });
    expect(err.problems).toEqual([expect.stringMatching(/^channels \(in .*\)\[1\]: channel name must not contain control characters/)]);
  });

  it('names the YAML key and the file of an invalid value', () => {
    const file = yamlFile('port: high\n');
    const err = configError({ env: {}, file });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^port \(in .*\): .*; got "high"$/);
    expect(err.problems[0]).toContain(file);
  });

  it('rejects an empty YAML value instead of reading it as 0', () => {
    const file = yamlFile('port:\n');
    const err = configError({ env: {}, file });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain(`port (in ${file})`);
  });

  it('rejects a boolean where a number is expected', () => {
    const file = yamlFile('port: true\n');
    expect(configError({ env: {}, file }).problems[0]).toContain(`port (in ${file})`);
  });

  it('names the flag of an invalid command-line override', () => {
    const err = configError({ env: {}, overrides: { logLevel: 'chatty' } });
    expect(err.problems).toEqual([expect.stringMatching(/^logLevel \(command-line flag\): .*; got "chatty"$/)]);
  });

  it('rejects unknown YAML keys, naming them and the file', () => {
    const file = yamlFile('port: 8081\nprot: 8082\nredis_url: redis://x\n');
    const err = configError({ env: {}, file });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain(file);
    expect(err.problems[0]).toContain('unknown setting(s)');
    expect(err.problems[0]).toContain('prot');
    expect(err.problems[0]).toContain('redis_url');
  });

  it('rejects a YAML file that is not a mapping', () => {
    for (const text of ['- a\n- b\n', '42\n', 'just a string\n']) {
      const file = yamlFile(text);
      const err = configError({ env: {}, file });
      expect(err.problems).toEqual([`--config ${file}: expected a mapping of settings at the top level`]);
    }
  });

  it('rejects invalid YAML, naming the file', () => {
    const file = yamlFile('port: [8080\n');
    const err = configError({ env: {}, file });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^--config ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML`));
  });

  it('reports a missing file', () => {
    const file = join(dir, 'does-not-exist.yaml');
    const err = configError({ env: {}, file });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/cannot read file/);
    expect(err.problems[0]).toContain(file);
  });

  it('never prints a password in an error', () => {
    const err = configError({
      env: { DATABASE_URL: 'mysql://app:hunter2@db/app', REDIS_URL: 'http://:s3cret@cache:6379' },
    });
    expect(err.problems).toHaveLength(2);
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('s3cret');
    expect(err.message).toContain('DATABASE_URL (environment)');
    expect(err.message).toContain('REDIS_URL (environment)');
    expect(err.message).toContain('***');
  });
});

describe('loadConfig: cross-field rules', () => {
  it('requires leaderQueryTimeoutMs < pgSessionTimeoutMs', () => {
    const err = configError({
      env: {
        NOTIFIER_LEADER_QUERY_TIMEOUT_MS: '8000',
        NOTIFIER_PG_SESSION_TIMEOUT_MS: '8000',
      },
    });
    expect(err.problems).toEqual([
      expect.stringMatching(/^NOTIFIER_LEADER_QUERY_TIMEOUT_MS \(environment\): must be below pgSessionTimeoutMs \(8000\)/),
    ]);
    expect(
      loadConfig({ env: { NOTIFIER_LEADER_QUERY_TIMEOUT_MS: '7999', NOTIFIER_PG_SESSION_TIMEOUT_MS: '8000' } })
        .leaderQueryTimeoutMs,
    ).toBe(7999);
  });

  it('requires redisCommandTimeoutMs < pgSessionTimeoutMs', () => {
    const err = configError({ env: { NOTIFIER_REDIS_COMMAND_TIMEOUT_MS: '9000' } });
    expect(err.problems).toEqual([
      expect.stringMatching(/^NOTIFIER_REDIS_COMMAND_TIMEOUT_MS \(environment\): must be below pgSessionTimeoutMs \(8000\)/),
    ]);
  });

  it('requires leaderHeartbeatMs < pgSessionTimeoutMs', () => {
    const file = yamlFile('leaderHeartbeatMs: 8000\n');
    const err = configError({ env: {}, file });
    expect(err.problems).toEqual([expect.stringMatching(/^leaderHeartbeatMs \(in .*\): must be below pgSessionTimeoutMs/)]);
  });

  it('names a defaulted setting by both its field and its variable when another setting breaks the rule', () => {
    const err = configError({ env: { NOTIFIER_PG_SESSION_TIMEOUT_MS: '2000' } });
    // Defaults: leaderQueryTimeoutMs 3000 and redisCommandTimeoutMs 5000 are both >= 2000.
    expect(err.problems).toEqual([
      expect.stringMatching(/^leaderQueryTimeoutMs \/ NOTIFIER_LEADER_QUERY_TIMEOUT_MS: must be below pgSessionTimeoutMs \(2000\)/),
      expect.stringMatching(/^redisCommandTimeoutMs \/ NOTIFIER_REDIS_COMMAND_TIMEOUT_MS: must be below pgSessionTimeoutMs \(2000\)/),
    ]);
  });

  it('accepts a consistent set of short timeouts', () => {
    const c = loadConfig({
      env: {
        NOTIFIER_PG_SESSION_TIMEOUT_MS: '4000',
        NOTIFIER_LEADER_QUERY_TIMEOUT_MS: '3000',
        NOTIFIER_REDIS_COMMAND_TIMEOUT_MS: '3000',
        NOTIFIER_LEADER_HEARTBEAT_MS: '500',
      },
    });
    expect(c.pgSessionTimeoutMs).toBe(4000);
  });
});

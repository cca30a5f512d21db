/**
 * JWT settings as users meet them (issue 14): an invalid one exits 2 naming the key, and the
 * secret never reaches the terminal.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function run(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', ...env }, encoding: 'utf8', timeout: 20_000 });
}

describe('notifier with invalid JWT settings', () => {
  it.each(['start', 'edge'])('`notifier %s` exits 2 naming the key, without printing the secret', (role) => {
    const secret = 'too-short-secret-hunter2';
    const r = run([role], { REDIS_URL: 'redis://127.0.0.1:1', NOTIFIER_AUTH: 'jwt', NOTIFIER_JWT_SECRET: secret, NOTIFIER_JWT_ALGORITHMS: 'none' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/NOTIFIER_JWT_SECRET \(environment\): must be at least 32 bytes/);
    expect(r.stderr).toMatch(/NOTIFIER_JWT_ALGORITHMS \(environment\)\[0\]: alg "none" \(unsigned tokens\) is never accepted/);
    expect(r.stderr + r.stdout).not.toContain('hunter2');
  });

  it('exits 2 when a JWKS URL has no audience', () => {
    const r = run(['start'], { NOTIFIER_AUTH: 'jwt', NOTIFIER_JWKS_URL: 'https://id.example/jwks.json' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/jwtAudience \/ NOTIFIER_JWT_AUDIENCE: required with NOTIFIER_JWKS_URL/);
  });

  it('`notifier edge` without NOTIFIER_AUTH exits 2, naming it and both values', () => {
    const r = run(['edge'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('NOTIFIER_AUTH is required for `notifier edge`');
    expect(r.stderr).toContain('NOTIFIER_AUTH=jwt');
    expect(r.stderr).toContain('NOTIFIER_AUTH=none');
  });
});

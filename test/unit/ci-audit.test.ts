/**
 * .ci/npm-audit, the supply-chain step of .ci/run: it fails on a high or critical vulnerability in
 * the production dependencies, warns (and passes) when the registry offers no audit endpoint (a
 * mirror answering 405), and fails closed on output it cannot read. Judged on saved `npm audit
 * --json` outputs (`--from FILE STATUS`), so no registry is asked.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'notifier-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function judge(output: unknown, status: number): { status: number | null; out: string } {
  const file = join(dir, `audit-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof output === 'string' ? output : JSON.stringify(output, null, 2));
  const r = spawnSync('bash', ['.ci/npm-audit', '--from', file, String(status)], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const counts = (c: Partial<Record<'info' | 'low' | 'moderate' | 'high' | 'critical', number>>) => {
  const full = { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...c };
  return { ...full, total: Object.values(full).reduce((a, b) => a + b, 0) };
};
const report = (vulnerabilities: Record<string, unknown>, c: Parameters<typeof counts>[0]) => ({
  auditReportVersion: 2,
  vulnerabilities,
  metadata: { vulnerabilities: counts(c), dependencies: { prod: 120, dev: 0, optional: 0, peer: 0, peerOptional: 0, total: 120 } },
});
const vuln = (name: string, severity: string) => ({ name, severity, isDirect: false, via: [], effects: [], range: '<1.2.3', nodes: [], fixAvailable: true });

describe('.ci/npm-audit', () => {
  it('fails on a high or a critical vulnerability, naming each package', () => {
    const high = judge(report({ 'some-lib': vuln('some-lib', 'high'), other: vuln('other', 'moderate') }, { high: 1, moderate: 1 }), 1);
    expect(high.status).toBe(1);
    expect(high.out).toContain('FAILED: 1 high or critical');
    expect(high.out).toMatch(/high\s+some-lib <1\.2\.3/);
    const critical = judge(report({ x: vuln('x', 'critical') }, { critical: 1 }), 1);
    expect(critical.status).toBe(1);
  });

  it('passes a clean report, and one with only lower severities (listed)', () => {
    const clean = judge(report({}, {}), 0);
    expect(clean.status).toBe(0);
    expect(clean.out).toContain('no high or critical vulnerability');
    const moderate = judge(report({ m: vuln('m', 'moderate') }, { moderate: 1 }), 0);
    expect(moderate.status).toBe(0);
    expect(moderate.out).toMatch(/moderate\s+m/);
  });

  it('warns, and passes, when the registry does not offer the audit endpoint (HTTP 405 from a mirror)', () => {
    // What `npm audit --json` prints (exit status 1) against this machine's registry mirror.
    const r = judge(
      {
        message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
        method: 'POST',
        uri: 'https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
        headers: { allow: ['GET,HEAD'] },
        statusCode: 405,
        body: '',
        error: { summary: '', detail: '' },
      },
      1,
    );
    expect(r.status).toBe(0);
    expect(r.out).toContain('WARNING: the audit could not run, so NOTHING WAS CHECKED: 405 Method Not Allowed');
    expect(r.out).toContain('does not offer the audit endpoint');
  });

  it('warns, and passes, when the registry cannot be reached', () => {
    const r = judge({ error: { code: 'ENOTFOUND', summary: 'request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed', detail: '' } }, 1);
    expect(r.status).toBe(0);
    expect(r.out).toContain('could not run');
  });

  it('fails closed on output that is neither a report nor an error', () => {
    expect(judge('npm ERR! something else entirely', 1).status).toBe(1);
    expect(judge({ unexpected: true }, 1).status).toBe(1);
  });
});

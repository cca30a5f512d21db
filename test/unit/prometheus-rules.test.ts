/**
 * deploy/prometheus/alerts.yml and deploy/grafana/notifier.json, checked offline:
 * `promtool check rules` / `check config`, `promtool test rules` on deploy/prometheus/alerts.test.yml
 * (every alert fires on bad series and stays silent on healthy ones), each alert's labels,
 * annotations and README runbook, and the dashboard's structure. Their PromQL runs against a live
 * Prometheus in test/integration/prometheus-live.test.ts.
 *
 * Needs promtool (Debian: `apt-get install prometheus`, which `.ci/run` does when it is missing;
 * PROMTOOL may name the binary). Without it this test fails; it never skips.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const PROMTOOL = process.env['PROMTOOL'] ?? 'promtool';

function promtool(...args: string[]) {
  const r = spawnSync(PROMTOOL, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${PROMTOOL} not found: install Prometheus's tools (Debian: \`apt-get install prometheus\`; .ci/run does it), or set PROMTOOL to the binary`);
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(read('deploy/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

const EXPECTED_ALERTS = [
  'NotifierNoLeader',
  'NotifierMultipleLeaders',
  'NotifierBusHeartbeatStale',
  'NotifierOutboxStuck',
  'NotifierNotifyQueueHigh',
  'NotifierDeliveryLatencyHigh',
  'NotifierSlowConsumerClosesSpiking',
  'NotifierEdgeNotReady',
  'NotifierAuthFailuresSpiking',
];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

describe('deploy/prometheus/alerts.yml', () => {
  it('passes promtool check rules, and prometheus.yml passes promtool check config', () => {
    const rulesCheck = promtool('check', 'rules', 'deploy/prometheus/alerts.yml');
    expect(rulesCheck.output).toContain(`SUCCESS: ${EXPECTED_ALERTS.length} rules found`);
    expect(rulesCheck.status, rulesCheck.output).toBe(0);
    const configCheck = promtool('check', 'config', 'deploy/prometheus/prometheus.yml');
    expect(configCheck.status, configCheck.output).toBe(0);
  });

  it('passes its unit tests (promtool test rules deploy/prometheus/alerts.test.yml)', () => {
    const r = promtool('test', 'rules', 'deploy/prometheus/alerts.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('has every expected alert, each with for, severity, summary, description and a README runbook', () => {
    expect(rules.map((r) => r.alert)).toEqual(EXPECTED_ALERTS);
    const readme = read('README.md');
    const anchors = new Set([...readme.matchAll(/^#{2,6} (.+)$/gm)].map((m) => anchor(m[1] ?? '')));
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical'], r.alert).toContain(r.labels?.['severity']);
      expect(r.annotations?.['summary'], r.alert).toBeTruthy();
      expect(r.annotations?.['description'], r.alert).toBeTruthy();
      expect(r.annotations?.['runbook_url'], r.alert).toBe(`README.md#alert-${r.alert.toLowerCase()}`);
      expect(anchors.has(`alert-${r.alert.toLowerCase()}`), `README heading "Alert: ${r.alert}"`).toBe(true);
    }
  });

  it('has a unit test where each alert fires and one where it stays silent', () => {
    const tests = (parse(read('deploy/prometheus/alerts.test.yml')) as {
      rule_files: string[];
      tests: { alert_rule_test: { alertname: string; exp_alerts?: unknown[] }[] }[];
    }).tests.flatMap((t) => t.alert_rule_test);
    for (const name of EXPECTED_ALERTS) {
      const cases = tests.filter((t) => t.alertname === name);
      expect(cases.some((t) => (t.exp_alerts ?? []).length > 0), `${name} fires somewhere`).toBe(true);
      expect(cases.some((t) => (t.exp_alerts ?? []).length === 0), `${name} stays silent somewhere`).toBe(true);
    }
  });
});

interface Panel {
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

describe('deploy/grafana/notifier.json', () => {
  const dash = JSON.parse(read('deploy/grafana/notifier.json')) as {
    uid: string;
    schemaVersion: number;
    templating: { list: { name: string; type: string; query: unknown }[] };
    panels: Panel[];
  };

  it('takes the datasource, instance and pod as variables', () => {
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36);
    const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));
    expect(vars['datasource']).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars['instance']).toMatchObject({ type: 'query' });
    expect(vars['pod']).toMatchObject({ type: 'query' });
  });

  it('has the overview, listener, bus, edges and runtime rows; every panel has a description and uses $datasource, $instance and $pod', () => {
    expect(dash.panels.filter((p) => p.type === 'row').map((p) => p.title)).toEqual(['Overview', 'Listener', 'Bus (Redis)', 'Edges', 'Runtime']);
    const panels = dash.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(20);
    for (const p of panels) {
      expect(p.description?.length ?? 0, `description of "${p.title}"`).toBeGreaterThan(60);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.datasource?.uid, p.title).toBe('${datasource}');
        expect(t.expr, p.title).toContain('instance=~"$instance", pod=~"$pod"');
      }
    }
  });
});

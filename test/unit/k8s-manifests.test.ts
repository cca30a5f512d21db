/**
 * k8s/: every overlay renders with `kubectl kustomize`, every object passes the Kubernetes schemas,
 * and the objects fit together (README, "Deploying on Kubernetes").
 *
 * - Core objects are validated with kubernetes-models (the OpenAPI schemas of Kubernetes, compiled
 *   to validators): types, required fields, enums and formats. Those schemas do not reject unknown
 *   fields, so the checks below look for the fields that matter (probes, resources, security) by name:
 *   a misspelt key shows up as a missing one.
 * - The ServiceMonitor is a CRD (monitoring.coreos.com/v1) that kubernetes-models does not cover; it is
 *   checked structurally: the fields this test knows, their types, and that it selects our Services.
 * - Needs no cluster and no services, only the kubectl binary (built-in kustomize). Without kubectl
 *   the tests fail and say how to install it; they never skip.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job, type IJob } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy, type IIngress, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  Namespace,
  Secret,
  Service,
  type IConfigMap,
  type IContainer,
  type IPodSpec,
  type IProbe,
  type ISecret,
  type IService,
} from 'kubernetes-models/v1';
import { authModeFor } from '../../src/config/jwt-settings.js';
import { loadConfig } from '../../src/config/load-config.js';
import { configError } from '../helpers/config-error.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KUBECTL = process.env['KUBECTL'] ?? 'kubectl';
const OVERLAYS = ['dev', 'prod'] as const;
type Overlay = (typeof OVERLAYS)[number];

/** The one Secret the base references; the user creates it (README). */
const SECRET_NAME = 'notifier-secrets';
/**
 * Which Secret keys each role reads: nothing more (an edge never sees DATABASE_URL; only edges
 * verify tokens, so only they get the JWT secret).
 */
const SECRET_KEYS: Record<string, string[]> = {
  listener: ['DATABASE_URL', 'REDIS_URL'],
  edge: ['NOTIFIER_JWT_SECRET', 'REDIS_URL'],
  migrate: ['DATABASE_URL'],
};
/** The Secret as a manifest with placeholders: documentation, in no kustomization. */
const SECRET_EXAMPLE = 'k8s/secret.example.yaml';
/** Plausible values for the Secret's keys, to load each workload's settings as it would start. */
const FILLED_SECRET: Record<string, string> = {
  DATABASE_URL: 'postgresql://notifier:pw@db.internal:5432/notifier',
  REDIS_URL: 'redis://redis.internal:6379',
  NOTIFIER_JWT_SECRET: 'k'.repeat(64),
};
/** Settings that must never be plain values (ConfigMap or `value:`): they come from a Secret. */
const SECRET_SETTINGS = ['NOTIFIER_JWT_SECRET', 'NOTIFIER_JWT_PUBLIC_KEY', 'DATABASE_URL', 'REDIS_URL'];
/** NOTIFIER_AUTH=jwt takes exactly one of these. */
const JWT_KEY_SOURCES = ['NOTIFIER_JWT_SECRET', 'NOTIFIER_JWT_PUBLIC_KEY', 'NOTIFIER_JWKS_URL'];
/** The edge's drain window when NOTIFIER_DRAIN_SECONDS is not set: its default, 10 s. */
const DEFAULT_DRAIN_MS = 10_000;

const INSTALL_KUBECTL = [
  `This test renders k8s/overlays/* with \`${KUBECTL} kustomize\`, and ${KUBECTL} was not found or did not run.`,
  'Install kubectl (it includes kustomize; Debian 12 has no kubectl package):',
  '  - from the Kubernetes apt repository: https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/',
  '    (pkgs.k8s.io, package `kubectl`), or',
  '  - the static binary: curl -LO https://dl.k8s.io/release/$(curl -Ls https://dl.k8s.io/release/stable.txt)/bin/linux/amd64/kubectl',
  '    && install -m 0755 kubectl /usr/local/bin/kubectl',
  'or point KUBECTL at a kubectl binary.',
].join('\n');

// --- rendering ----------------------------------------------------------------------------------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
  [key: string]: unknown;
}

const rendered = new Map<Overlay, K8sObject[] | Error>();

/** `kubectl kustomize k8s/overlays/<overlay>`, parsed; memoized (an error too, so every test reports it). */
function render(overlay: Overlay): K8sObject[] {
  let result = rendered.get(overlay);
  if (result === undefined) {
    result = renderUncached(overlay);
    rendered.set(overlay, result);
  }
  if (result instanceof Error) throw result;
  return result;
}

function renderUncached(overlay: Overlay): K8sObject[] | Error {
  const dir = `k8s/overlays/${overlay}`;
  const run = spawnSync(KUBECTL, ['kustomize', dir], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  if (run.error) return new Error(`${INSTALL_KUBECTL}\n(${run.error.message})`);
  if (run.status !== 0) return new Error(`\`${KUBECTL} kustomize ${dir}\` exited ${run.status}:\n${run.stderr}`);
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(run.stdout)) {
    if (doc.errors.length > 0) return new Error(`${dir}: YAML error: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value as K8sObject);
  }
  return objects;
}

function ofKind<T>(objects: K8sObject[], kind: string): (T & K8sObject)[] {
  return objects.filter((o) => o.kind === kind) as (T & K8sObject)[];
}

function named<T>(objects: K8sObject[], kind: string, name: string): T & K8sObject {
  const found = ofKind<T>(objects, kind).find((o) => o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name}`);
  return found;
}

// --- schema validation --------------------------------------------------------------------------

/** kubernetes-models validators by apiVersion and kind: the kinds k8s/ may contain. */
const MODELS: Record<string, (data: never) => { validate(): void }> = {
  'v1/Namespace': (d) => new Namespace(d),
  'v1/Secret': (d) => new Secret(d),
  'v1/ConfigMap': (d) => new ConfigMap(d),
  'v1/Service': (d) => new Service(d),
  'apps/v1/Deployment': (d) => new Deployment(d),
  'batch/v1/Job': (d) => new Job(d),
  'networking.k8s.io/v1/Ingress': (d) => new Ingress(d),
  'networking.k8s.io/v1/NetworkPolicy': (d) => new NetworkPolicy(d),
  'autoscaling/v2/HorizontalPodAutoscaler': (d) => new HorizontalPodAutoscaler(d),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d),
};

/** CRDs, not in kubernetes-models: checked structurally (returns the problems). */
const CRD_CHECKS: Record<string, (o: K8sObject) => string[]> = {
  'monitoring.coreos.com/v1/ServiceMonitor': checkServiceMonitorShape,
};

const SERVICE_MONITOR_SPEC_KEYS = new Set([
  'selector', 'endpoints', 'namespaceSelector', 'jobLabel', 'targetLabels', 'podTargetLabels', 'sampleLimit',
  'targetLimit', 'labelLimit', 'labelNameLengthLimit', 'labelValueLengthLimit', 'attachMetadata',
]);
const SERVICE_MONITOR_ENDPOINT_KEYS = new Set([
  'port', 'targetPort', 'path', 'scheme', 'interval', 'scrapeTimeout', 'honorLabels', 'honorTimestamps',
  'relabelings', 'metricRelabelings', 'params', 'tlsConfig', 'bearerTokenSecret', 'authorization', 'basicAuth',
  'oauth2', 'followRedirects', 'enableHttp2', 'filterRunning', 'proxyUrl',
]);
const DURATION = /^(\d+(ms|s|m|h))+$/;

function checkServiceMonitorShape(o: K8sObject): string[] {
  const problems: string[] = [];
  const spec = o.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') return ['spec missing'];
  for (const key of Object.keys(spec)) {
    if (!SERVICE_MONITOR_SPEC_KEYS.has(key)) problems.push(`spec.${key}: not a ServiceMonitor field`);
  }
  const selector = spec['selector'] as Selector | undefined;
  if (!selector || typeof selector !== 'object' || Object.keys(selector.matchLabels ?? {}).length === 0) {
    problems.push('spec.selector.matchLabels missing or empty');
  }
  const endpoints = spec['endpoints'];
  if (!Array.isArray(endpoints) || endpoints.length === 0) return [...problems, 'spec.endpoints missing or empty'];
  endpoints.forEach((e: Record<string, unknown>, i) => {
    for (const key of Object.keys(e)) {
      if (!SERVICE_MONITOR_ENDPOINT_KEYS.has(key)) problems.push(`spec.endpoints[${i}].${key}: not an Endpoint field`);
    }
    if (typeof e['port'] !== 'string') problems.push(`spec.endpoints[${i}].port must be a Service port name`);
    if (typeof e['path'] !== 'string' || !e['path'].startsWith('/')) problems.push(`spec.endpoints[${i}].path must start with /`);
    for (const key of ['interval', 'scrapeTimeout']) {
      if (e[key] !== undefined && !(typeof e[key] === 'string' && DURATION.test(e[key]))) {
        problems.push(`spec.endpoints[${i}].${key} must be a duration like 15s`);
      }
    }
  });
  return problems;
}

// --- helpers: selectors, ports, quantities -------------------------------------------------------

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

function matches(selector: Selector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In': return key in l && values.includes(l[key] as string);
      case 'NotIn': return !(key in l) || !values.includes(l[key] as string);
      case 'Exists': return key in l;
      case 'DoesNotExist': return !(key in l);
      default: throw new Error(`unknown selector operator ${operator}`);
    }
  });
  const empty = Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
  return !empty && byLabel && byExpression;
}

/** A workload: a Deployment or Job with its pod template. */
interface Workload {
  kind: string;
  name: string;
  labels: Record<string, string>;
  pod: IPodSpec;
  role: string;
}

function workloads(objects: K8sObject[]): Workload[] {
  const out: Workload[] = [];
  for (const o of [...ofKind<IDeployment>(objects, 'Deployment'), ...ofKind<IJob>(objects, 'Job')]) {
    const template = (o as IDeployment | IJob).spec?.template;
    const labels = (template?.metadata?.labels ?? {}) as Record<string, string>;
    out.push({
      kind: o.kind,
      name: o.metadata.name,
      labels,
      pod: template?.spec as IPodSpec,
      role: labels['app.kubernetes.io/component'] ?? '',
    });
  }
  return out;
}

/** The container port a named or numbered port reference resolves to, or undefined. */
function resolvePort(containers: IContainer[], ref: string | number | undefined): number | undefined {
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (ref === p.name || ref === p.containerPort) return p.containerPort;
    }
  }
  return undefined;
}

const QUANTITY = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const FACTORS: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};

function quantity(q: unknown): number {
  const m = QUANTITY.exec(String(q));
  if (!m) throw new Error(`not a quantity this test understands: ${String(q)}`);
  return Number(m[1]) * (FACTORS[m[2] ?? ''] as number);
}

function envValue(c: IContainer, configMaps: IConfigMap[], name: string): string | undefined {
  const direct = c.env?.find((e) => e.name === name);
  if (direct) return direct.value;
  for (const from of c.envFrom ?? []) {
    const cm = configMaps.find((m) => m.metadata?.name === from.configMapRef?.name);
    const v = cm?.data?.[name];
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * The environment a container starts with: its ConfigMaps, then its own `env` (which wins), Secret
 * references resolved from `secret`. Throws on a reference to a ConfigMap or Secret key that does not exist.
 */
function effectiveEnv(c: IContainer, configMaps: IConfigMap[], secret: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = configMaps.find((m) => m.metadata?.name === from.configMapRef?.name);
    if (!cm) throw new Error(`${c.name}: no ConfigMap ${from.configMapRef?.name}`);
    Object.assign(env, cm.data ?? {});
  }
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const v = secret[ref.key];
      if (v === undefined) throw new Error(`${c.name}: env ${e.name} reads Secret key ${ref.key}, which the Secret lacks`);
      env[e.name] = v;
    } else if (e.value !== undefined) {
      env[e.name] = e.value;
    }
  }
  return env;
}

/** The edge's drain window in ms, from the settings its container sees. */
function drainWindowMs(c: IContainer, configMaps: IConfigMap[]): number {
  // The old name is refused at startup (renamed): it must not linger in a manifest.
  expect(envValue(c, configMaps, 'NOTIFIER_SHUTDOWN_GRACE_MS')).toBeUndefined();
  const seconds = envValue(c, configMaps, 'NOTIFIER_DRAIN_SECONDS');
  return seconds === undefined ? DEFAULT_DRAIN_MS : Number(seconds) * 1000;
}

/** Seconds the preStop hook takes (sleep action, or `sleep N` exec); 0 without one. */
function preStopSeconds(c: IContainer): number {
  const hook = c.lifecycle?.preStop;
  if (!hook) return 0;
  if (hook.sleep) return hook.sleep.seconds;
  const cmd = hook.exec?.command ?? [];
  const at = cmd.indexOf('sleep');
  if (at >= 0 && cmd[at + 1] !== undefined) return Number(cmd[at + 1]);
  throw new Error(`${c.name}: preStop hook this test cannot time: ${JSON.stringify(hook)}`);
}

function httpProbe(probe: IProbe | undefined): { path?: string; port?: string | number } | undefined {
  return probe?.httpGet as { path?: string; port?: string | number } | undefined;
}

// --- tests --------------------------------------------------------------------------------------

describe.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {
  it('renders with kubectl kustomize', () => {
    const objects = render(overlay);
    expect(objects.length).toBeGreaterThan(0);
    const ids = objects.map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(new Set(ids).size, 'duplicate objects').toBe(ids.length);
    // Every namespaced object lands in the overlay's namespace, which the overlay creates.
    const namespaces = ofKind(objects, 'Namespace').map((n) => n.metadata.name);
    expect(namespaces).toHaveLength(1);
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(namespaces[0]);
    }
  });

  it('every object passes the Kubernetes schemas (CRDs: structural check)', () => {
    const problems: string[] = [];
    for (const o of render(overlay)) {
      const id = `${o.apiVersion}/${o.kind}`;
      const where = `${o.kind}/${o.metadata?.name}`;
      if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') problems.push(`${id}: metadata.name missing`);
      const model = MODELS[id];
      const crd = CRD_CHECKS[id];
      if (model) {
        try {
          model(o as never).validate();
        } catch (err) {
          problems.push(`${where}: ${(err as Error).message}`);
        }
      } else if (crd) {
        problems.push(...crd(o).map((p) => `${where}: ${p}`));
      } else {
        problems.push(`${where}: ${id} has no validator here; add it to MODELS or CRD_CHECKS`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('workloads: one image, their role, the Secret keys they need, existing ConfigMaps', () => {
    const objects = render(overlay);
    const configMaps = ofKind<IConfigMap>(objects, 'ConfigMap').map((c) => c.metadata.name);
    const all = workloads(objects);
    expect(all.map((w) => w.role).sort()).toEqual(['edge', 'listener', 'migrate']);
    const images = new Set<string>();
    for (const w of all) {
      expect(w.pod.containers, w.name).toHaveLength(1);
      const c = w.pod.containers[0] as IContainer;
      images.add(c.image ?? '');
      expect(c.image, `${w.name}: image with a pinned tag`).toMatch(/:[\w][\w.-]*$/);
      expect(c.image, `${w.name}: not :latest`).not.toMatch(/:latest$/);
      // The image's entrypoint is `node dist/cli.js`; args pick the role.
      expect(c.command, `${w.name}: keep the image's entrypoint`).toBeUndefined();
      expect(c.args, w.name).toEqual([w.role]);
      const secretRefs = (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom!.secretKeyRef!);
      expect(secretRefs.map((r) => r.name), w.name).toEqual(secretRefs.map(() => SECRET_NAME));
      expect(secretRefs.map((r) => r.key).sort(), `${w.name}: Secret keys`).toEqual(SECRET_KEYS[w.role]);
      for (const e of c.env ?? []) {
        if (e.valueFrom?.secretKeyRef) expect(e.name, `${w.name}: env name = Secret key`).toBe(e.valueFrom.secretKeyRef.key);
      }
      for (const from of c.envFrom ?? []) {
        expect(from.secretRef, `${w.name}: no whole-Secret envFrom`).toBeUndefined();
        expect(configMaps, `${w.name}: envFrom ConfigMap`).toContain(from.configMapRef?.name);
      }
      expect(w.pod.automountServiceAccountToken, `${w.name}: no API token`).toBe(false);
    }
    expect(images.size, 'one image for every role').toBe(1);
    const edge = all.find((w) => w.role === 'edge')!.pod.containers[0]!;
    // notifier sets its own V8 young generation (src/v8-defaults.ts): NODE_OPTIONS is the operator's.
    expect(edge.env?.find((e) => e.name === 'NODE_OPTIONS')).toBeUndefined();
  });

  it('edges run with NOTIFIER_AUTH=jwt and their key from the Secret; other roles get no auth settings', () => {
    const objects = render(overlay);
    const configMaps = ofKind<IConfigMap>(objects, 'ConfigMap');
    // ConfigMaps are shared by every role, and readable by anyone who may read ConfigMaps: no
    // secret in them, and no auth setting (a listener refuses NOTIFIER_AUTH=jwt without a key).
    for (const cm of configMaps) {
      const keys = Object.keys(cm.data ?? {});
      expect(keys.filter((k) => k === 'NOTIFIER_AUTH' || k.startsWith('NOTIFIER_JWT') || k === 'NOTIFIER_JWKS_URL'), `ConfigMap ${cm.metadata.name}`).toEqual([]);
      expect(keys.filter((k) => SECRET_SETTINGS.includes(k)), `ConfigMap ${cm.metadata.name}: secrets`).toEqual([]);
    }
    for (const w of workloads(objects)) {
      const c = w.pod.containers[0] as IContainer;
      for (const e of c.env ?? []) {
        if (SECRET_SETTINGS.includes(e.name)) {
          expect(e.value, `${w.name}: ${e.name} is no plain value`).toBeUndefined();
          expect(e.valueFrom?.secretKeyRef?.name, `${w.name}: ${e.name} from the Secret`).toBe(SECRET_NAME);
        }
      }
      const env = effectiveEnv(c, configMaps, FILLED_SECRET);
      // Each workload starts with these settings: the edge in jwt mode, the others unchanged.
      const config = loadConfig({ env });
      if (w.role === 'edge') {
        expect(c.env?.find((e) => e.name === 'NOTIFIER_AUTH')?.value, `${w.name}: NOTIFIER_AUTH`).toBe('jwt');
        expect(authModeFor('edge', config)).toBe('jwt');
        const sources = JWT_KEY_SOURCES.filter((k) => env[k] !== undefined);
        expect(sources, `${w.name}: exactly one key source`).toEqual(['NOTIFIER_JWT_SECRET']);
        expect(c.env?.find((e) => e.name === 'NOTIFIER_JWT_SECRET')?.valueFrom?.secretKeyRef).toEqual({ name: SECRET_NAME, key: 'NOTIFIER_JWT_SECRET' });
        // Without the Secret's key the edge would not start: the key is what makes it verify.
        const withoutKey = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'NOTIFIER_JWT_SECRET'));
        expect(configError({ env: withoutKey }).problems.join('\n')).toMatch(/NOTIFIER_AUTH=jwt needs one key source/);
      } else {
        expect(Object.keys(env).filter((k) => k === 'NOTIFIER_AUTH' || k.startsWith('NOTIFIER_JWT')), w.name).toEqual([]);
      }
    }
  });

  it('creates no Secret: `kubectl apply -k` never overwrites the one you created', () => {
    expect(ofKind(render(overlay), 'Secret')).toEqual([]);
  });

  it('every container: resource requests and limits, requests within limits', () => {
    for (const w of workloads(render(overlay))) {
      for (const c of [...(w.pod.initContainers ?? []), ...w.pod.containers]) {
        const where = `${w.name}/${c.name}`;
        for (const resource of ['cpu', 'memory']) {
          const request = c.resources?.requests?.[resource];
          const limit = c.resources?.limits?.[resource];
          expect(request, `${where}: requests.${resource}`).toBeDefined();
          expect(limit, `${where}: limits.${resource}`).toBeDefined();
          expect(quantity(request), `${where}: ${resource} request ≤ limit`).toBeLessThanOrEqual(quantity(limit));
        }
      }
    }
  });

  it('every pod: non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    for (const w of workloads(render(overlay))) {
      const pod = w.pod.securityContext ?? {};
      expect(pod.runAsNonRoot, `${w.name}: pod runAsNonRoot`).toBe(true);
      expect(pod.seccompProfile?.type, `${w.name}: pod seccomp`).toBe('RuntimeDefault');
      for (const c of [...(w.pod.initContainers ?? []), ...w.pod.containers]) {
        const where = `${w.name}/${c.name}`;
        const sc = c.securityContext ?? {};
        const uid = sc.runAsUser ?? pod.runAsUser;
        expect(Number.isInteger(uid) && (uid as number) > 0, `${where}: numeric non-zero runAsUser`).toBe(true);
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
        expect(sc.allowPrivilegeEscalation, `${where}: allowPrivilegeEscalation`).toBe(false);
        expect(sc.readOnlyRootFilesystem, `${where}: readOnlyRootFilesystem`).toBe(true);
        expect(sc.privileged ?? false, `${where}: privileged`).toBe(false);
        expect(sc.capabilities?.drop, `${where}: drop ALL capabilities`).toContain('ALL');
        expect(sc.capabilities?.add ?? [], `${where}: add no capabilities`).toEqual([]);
        expect((sc.seccompProfile ?? pod.seccompProfile)?.type, `${where}: seccomp`).toBe('RuntimeDefault');
        // A read-only root needs a writable /tmp: an emptyDir.
        const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(tmp, `${where}: /tmp mounted`).toBeDefined();
        expect(w.pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, `${where}: /tmp is an emptyDir`).toBeDefined();
      }
    }
  });

  it('Deployments: liveness on /health and readiness on /ready, on the port the process serves', () => {
    const objects = render(overlay);
    const configMaps = ofKind<IConfigMap>(objects, 'ConfigMap');
    const deployments = workloads(objects).filter((w) => w.kind === 'Deployment');
    expect(deployments.map((d) => d.role).sort()).toEqual(['edge', 'listener']);
    for (const d of deployments) {
      const c = d.pod.containers[0] as IContainer;
      const port = Number(envValue(c, configMaps, 'PORT') ?? 8080);
      expect(resolvePort([c], 'http'), `${d.name}: container port "http" = PORT`).toBe(port);
      const liveness = httpProbe(c.livenessProbe);
      const readiness = httpProbe(c.readinessProbe);
      expect(liveness?.path, `${d.name}: liveness path`).toBe('/health');
      expect(readiness?.path, `${d.name}: readiness path`).toBe('/ready');
      expect(resolvePort([c], liveness?.port), `${d.name}: liveness port`).toBe(port);
      expect(resolvePort([c], readiness?.port), `${d.name}: readiness port`).toBe(port);
    }
  });

  it('edges serve /metrics on NOTIFIER_METRICS_PORT, a container port of its own, never on the public port', () => {
    const objects = render(overlay);
    const configMaps = ofKind<IConfigMap>(objects, 'ConfigMap');
    const edge = workloads(objects).find((w) => w.role === 'edge');
    const c = edge?.pod.containers[0] as IContainer;
    const metricsPort = Number(envValue(c, configMaps, 'NOTIFIER_METRICS_PORT'));
    expect(metricsPort, 'NOTIFIER_METRICS_PORT').toBeGreaterThan(0);
    expect(resolvePort([c], 'metrics')).toBe(metricsPort);
    expect(metricsPort).not.toBe(Number(envValue(c, configMaps, 'PORT') ?? 8080));
    const service = ofKind<IService>(objects, 'Service').find((s) => s.metadata.name === 'notifier-edge');
    expect(service?.spec?.ports?.find((p) => p.name === 'metrics')?.targetPort).toBe('metrics');
  });

  it('Deployments: selectors match their own pods; topology spread selects the same pods', () => {
    for (const d of ofKind<IDeployment>(render(overlay), 'Deployment')) {
      const labels = d.spec?.template.metadata?.labels as Record<string, string>;
      expect(matches(d.spec?.selector as Selector, labels), `${d.metadata.name}: selector`).toBe(true);
      const spread = d.spec?.template.spec?.topologySpreadConstraints ?? [];
      expect(spread.length, `${d.metadata.name}: topologySpreadConstraints`).toBeGreaterThan(0);
      for (const t of spread) {
        expect(matches(t.labelSelector as Selector, labels), `${d.metadata.name}: spread over ${t.topologyKey}`).toBe(true);
      }
    }
  });

  it('edges: terminationGracePeriodSeconds outlasts preStop plus the drain window', () => {
    const objects = render(overlay);
    const configMaps = ofKind<IConfigMap>(objects, 'ConfigMap');
    for (const d of workloads(objects).filter((w) => w.kind === 'Deployment')) {
      const c = d.pod.containers[0] as IContainer;
      const grace = d.pod.terminationGracePeriodSeconds;
      expect(grace, `${d.name}: terminationGracePeriodSeconds set`).toBeDefined();
      const drain = d.role === 'edge' ? drainWindowMs(c, configMaps) / 1000 : 0;
      const preStop = preStopSeconds(c);
      if (d.role === 'edge') {
        // The endpoint must be gone from load balancers before SIGTERM stops accepting.
        expect(preStop, `${d.name}: preStop delay`).toBeGreaterThanOrEqual(3);
      }
      // The grace period starts with preStop; leave at least 5 s for the last batch and Redis.
      expect(grace as number, `${d.name}: grace ${grace}s vs preStop ${preStop}s + drain ${drain}s`).toBeGreaterThanOrEqual(
        preStop + drain + 5,
      );
    }
  });

  it('Services select the pods of exactly one Deployment, on ports those pods expose', () => {
    const objects = render(overlay);
    const deployments = workloads(objects).filter((w) => w.kind === 'Deployment');
    const services = ofKind<IService>(objects, 'Service');
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) {
      const targets = deployments.filter((d) => matches({ matchLabels: s.spec?.selector }, d.labels));
      expect(targets.map((t) => t.name), `Service ${s.metadata.name} selects`).toHaveLength(1);
      expect(s.spec?.sessionAffinity ?? 'None', `Service ${s.metadata.name}: no affinity`).toBe('None');
      for (const p of s.spec?.ports ?? []) {
        const target = p.targetPort ?? p.port;
        expect(resolvePort(targets[0]!.pod.containers, target), `Service ${s.metadata.name} port ${p.name}`).toBeDefined();
      }
    }
  });

  it('PodDisruptionBudgets select exactly one Deployment and never block every eviction', () => {
    const objects = render(overlay);
    const deployments = ofKind<IDeployment>(objects, 'Deployment');
    const hpas = ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
    const pdbs = ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
    expect(pdbs.map((p) => p.metadata.name).sort()).toEqual(['notifier-edge', 'notifier-listener']);
    for (const pdb of pdbs) {
      const targets = deployments.filter((d) => matches(pdb.spec?.selector as Selector, d.spec?.template.metadata?.labels as Record<string, string>));
      expect(targets.map((t) => t.metadata.name), `PDB ${pdb.metadata.name} selects`).toHaveLength(1);
      const target = targets[0]!;
      const replicas =
        target.spec?.replicas ??
        hpas.find((h) => h.spec?.scaleTargetRef.name === target.metadata.name)?.spec?.minReplicas ??
        1;
      const { maxUnavailable, minAvailable } = pdb.spec ?? {};
      if (maxUnavailable !== undefined) {
        expect(typeof maxUnavailable === 'number' ? maxUnavailable : parseInt(maxUnavailable, 10)).toBeGreaterThan(0);
      } else {
        expect(typeof minAvailable, `PDB ${pdb.metadata.name}: integer minAvailable`).toBe('number');
        expect(minAvailable as number, `PDB ${pdb.metadata.name} vs ${replicas} replicas`).toBeLessThan(replicas);
      }
    }
  });

  it('HorizontalPodAutoscalers target an existing Deployment that leaves replicas to them', () => {
    const objects = render(overlay);
    for (const h of ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler')) {
      const spec = h.spec!;
      const ref = spec.scaleTargetRef;
      expect(ref.kind).toBe('Deployment');
      expect(ref.apiVersion).toBe('apps/v1');
      const target = named<IDeployment>(objects, 'Deployment', ref.name);
      // A replicas field would reset the HPA's count on every `kubectl apply`.
      expect(target.spec?.replicas, `Deployment ${ref.name} has no replicas field`).toBeUndefined();
      expect(spec.minReplicas ?? 1).toBeLessThanOrEqual(spec.maxReplicas);
      expect(spec.minReplicas ?? 1, 'at least two edges').toBeGreaterThanOrEqual(2);
      // Utilization targets are relative to the CPU request, which must therefore exist.
      for (const m of spec.metrics ?? []) {
        if (m.type === 'Resource' && m.resource?.target.type === 'Utilization') {
          for (const c of target.spec?.template.spec?.containers ?? []) {
            expect(c.resources?.requests?.[m.resource.name], `${ref.name}/${c.name}: ${m.resource.name} request`).toBeDefined();
          }
        }
      }
    }
  });

  it('the Ingress sends /ws to an existing Service port, with WebSocket timeouts and no affinity', () => {
    const objects = render(overlay);
    const ingresses = ofKind<IIngress>(objects, 'Ingress');
    expect(ingresses).toHaveLength(1);
    const ing = ingresses[0]!;
    const annotations = ing.metadata.annotations ?? {};
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(300);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(300);
    expect(Object.keys(annotations).filter((k) => /affinity|upstream-hash-by/.test(k)), 'no affinity').toEqual([]);
    const paths = (ing.spec?.rules ?? []).flatMap((r) => r.http?.paths ?? []);
    expect(paths.map((p) => p.path)).toContain('/ws');
    for (const p of paths) {
      const backend = p.backend.service!;
      const service = named<IService>(objects, 'Service', backend.name);
      const port = (service.spec?.ports ?? []).find((sp) => sp.name === backend.port?.name || sp.port === backend.port?.number);
      expect(port, `Ingress ${p.path} → ${backend.name}:${backend.port?.name ?? backend.port?.number}`).toBeDefined();
    }
  });

  it('NetworkPolicies: every workload is isolated by exactly one; ports fit the pods', () => {
    const objects = render(overlay);
    const all = workloads(objects);
    const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
    for (const w of all) {
      const own = policies.filter((p) => matches(p.spec?.podSelector as Selector, w.labels));
      expect(own.map((p) => p.metadata.name), `${w.name}: NetworkPolicies`).toHaveLength(1);
      const policy = own[0]!;
      expect(policy.spec?.policyTypes?.sort(), `${policy.metadata.name}: both directions`).toEqual(['Egress', 'Ingress']);
      const egressPorts = (policy.spec?.egress ?? []).flatMap((r) => r.ports ?? []).map((p) => `${p.port}/${p.protocol}`);
      expect(egressPorts, `${policy.metadata.name}: DNS`).toEqual(expect.arrayContaining(['53/UDP', '53/TCP']));
      const needs = { listener: ['5432/TCP', '6379/TCP'], edge: ['6379/TCP'], migrate: ['5432/TCP'] }[w.role] ?? [];
      expect(egressPorts, `${policy.metadata.name}: egress`).toEqual(expect.arrayContaining(needs));
      if (w.role === 'edge') expect(egressPorts, 'edges never reach PostgreSQL').not.toContain('5432/TCP');
      const ingressPorts = (policy.spec?.ingress ?? []).flatMap((r) => r.ports ?? []).map((p) => p.port);
      if (w.kind === 'Deployment') {
        expect(ingressPorts, `${policy.metadata.name}: admits the HTTP port`).toContain(resolvePort(w.pod.containers, 'http'));
      } else {
        expect(ingressPorts, `${policy.metadata.name}: nothing connects to ${w.name}`).toEqual([]);
      }
      if (w.role === 'listener') {
        // Only Prometheus may reach a listener: every ingress rule names its sources.
        for (const rule of policy.spec?.ingress ?? []) expect(rule.from?.length ?? 0).toBeGreaterThan(0);
      }
    }
  });

  it('ServiceMonitors scrape /metrics through Service ports that exist', () => {
    const objects = render(overlay);
    const services = ofKind<IService>(objects, 'Service');
    for (const sm of ofKind(objects, 'ServiceMonitor')) {
      const spec = sm.spec as { selector: Selector; endpoints: { port: string; path: string }[] };
      const selected = services.filter((s) => matches(spec.selector, s.metadata.labels));
      expect(selected.map((s) => s.metadata.name).sort(), `ServiceMonitor ${sm.metadata.name} selects`).toEqual([
        'notifier-edge',
        'notifier-listener',
      ]);
      for (const e of spec.endpoints) {
        expect(e.path).toBe('/metrics');
        for (const s of selected) expect(s.spec?.ports?.map((p) => p.name), `${s.metadata.name} port ${e.port}`).toContain(e.port);
      }
    }
  });
});

describe('overlay differences', () => {
  it('prod: two listeners, autoscaled edges, ServiceMonitor; dev: one of each, fixed', () => {
    const prod = render('prod');
    expect(named<IDeployment>(prod, 'Deployment', 'notifier-listener').spec?.replicas).toBeGreaterThanOrEqual(2);
    const hpa = named<IHorizontalPodAutoscaler>(prod, 'HorizontalPodAutoscaler', 'notifier-edge');
    expect(hpa.spec?.minReplicas).toBeGreaterThanOrEqual(3);
    expect(ofKind(prod, 'ServiceMonitor')).toHaveLength(1);

    const dev = render('dev');
    expect(ofKind(dev, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(named<IDeployment>(dev, 'Deployment', 'notifier-edge').spec?.replicas).toBe(1);
    expect(named<IDeployment>(dev, 'Deployment', 'notifier-listener').spec?.replicas).toBe(1);
  });
});

describe('k8s/secret.example.yaml', () => {
  const text = readFileSync(join(ROOT, SECRET_EXAMPLE), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as ISecret & K8sObject);

  it('is one valid Secret named as the workloads reference it, with exactly the keys they read', () => {
    expect(docs).toHaveLength(1);
    const secret = docs[0]!;
    expect(() => new Secret(secret as never).validate()).not.toThrow();
    expect(secret.metadata.name).toBe(SECRET_NAME);
    expect(secret.metadata.namespace, 'created in the overlay’s namespace (-n)').toBeUndefined();
    const keys = Object.keys({ ...secret.data, ...secret.stringData }).sort();
    expect(keys).toEqual([...new Set(Object.values(SECRET_KEYS).flat())].sort());
  });

  it('is marked as an example, holds placeholders only, and the edge refuses its placeholder key', () => {
    expect(text.split('\n')[0]).toMatch(/EXAMPLE ONLY.*PLACEHOLDERS.*NOT A WORKING OR PRODUCTION SECRET/);
    const values = docs[0]!.stringData ?? {};
    expect(values['NOTIFIER_JWT_SECRET']).toBe('CHANGE_ME');
    expect(values['DATABASE_URL']).toContain('CHANGE_ME');
    for (const v of Object.values(values)) expect(v).toMatch(/CHANGE_ME|\.example\.internal/);
    // Applied unchanged, the edge would not start: the placeholder is shorter than 32 bytes.
    const problems = configError({ env: { NOTIFIER_AUTH: 'jwt', REDIS_URL: values['REDIS_URL'] ?? '', NOTIFIER_JWT_SECRET: values['NOTIFIER_JWT_SECRET'] ?? '' } }).problems;
    expect(problems.join('\n')).toMatch(/^NOTIFIER_JWT_SECRET/);
    expect(problems.join('\n')).not.toContain('CHANGE_ME');
  });

  it('is in no kustomization', () => {
    const kustomizations: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name === 'kustomization.yaml') kustomizations.push(path);
      }
    };
    walk(join(ROOT, 'k8s'));
    expect(kustomizations.length).toBeGreaterThanOrEqual(3);
    for (const k of kustomizations) {
      const resources = [...readFileSync(k, 'utf8').matchAll(/^\s*-\s*(\S+\.ya?ml)\s*$/gm)].map((m) => m[1]);
      expect(resources.filter((r) => r?.includes('secret')), k).toEqual([]);
    }
  });
});

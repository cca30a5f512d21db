/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and per module
 * (a node_modules package, a file of ours, or node's internals), for findings in RESULTS.md.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  /** Sampled time, ms (idle excluded). */
  busyMs: number;
  totalMs: number;
  functions: { name: string; selfMs: number; share: number }[];
  modules: { name: string; selfMs: number; share: number }[];
}

function moduleOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] ?? url;
  if (url.startsWith('node:')) return 'node internals';
  const ours = /\/(dist|src)\/(.+)$/.exec(url);
  if (ours) return ours[2] ?? url;
  return url;
}

/** Longest time one sample may stand for (µs); the preload samples every 500 µs. */
const MAX_DELTA_US = 5000;

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] ?? 0;
    // The delta after a sample is the time attributed to it. A delta far above the sampling
    // interval means the process was stopped (SIGSTOP) or starved: count one interval, not the gap.
    const delta = Math.min(deltas[i + 1] ?? 0, MAX_DELTA_US);
    self.set(id, (self.get(id) ?? 0) + delta / 1000);
  }
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    busy += ms;
    const short = url.replace(/^.*\/(node_modules|dist|src)\//, '$1/');
    const name = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + ms);
    const m = moduleOf(url, functionName);
    mod.set(m, (mod.get(m) ?? 0) + ms);
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, selfMs]) => ({ name, selfMs, share: busy > 0 ? selfMs / busy : 0 }));
  return { file, busyMs: busy, totalMs: (p.endTime - p.startTime) / 1000, functions: rank(fn), modules: rank(mod) };
}

/** The newest .cpuprofile files in `dir`. */
export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return [
    `${s.file}: ${(s.busyMs / 1000).toFixed(2)} s busy of ${(s.totalMs / 1000).toFixed(1)} s`,
    '  by module: ' + s.modules.map((m) => `${m.name} ${pct(m.share)}`).join(', '),
    '  top functions (self):',
    ...s.functions.map((f) => `    ${pct(f.share).padStart(6)}  ${f.name}`),
  ].join('\n');
}

/**
 * Node 20 refuses --cpu-prof in NODE_OPTIONS, and the harness starts `node dist/cli.js` itself:
 * so a preload module (NODE_OPTIONS=--import <file>) runs the inspector's profiler in the
 * process and writes <dir>/<role>-<pid>.cpuprofile when it exits (SIGTERM, not SIGKILL).
 * Returns the NODE_OPTIONS value; the preload file is written to `dir`.
 */
export function cpuProfileNodeOptions(dir: string): string {
  const file = join(dir, 'cpu-prof-preload.mjs');
  writeFileSync(
    file,
    `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
session.post('Profiler.start');
process.on('exit', () => {
  // A main-thread Session answers synchronously, so this completes inside the 'exit' handler.
  session.post('Profiler.stop', (err, res) => {
    if (!err) writeFileSync(${JSON.stringify(dir)} + '/' + (process.argv[2] ?? 'node') + '-' + process.pid + '.cpuprofile', JSON.stringify(res.profile));
  });
});
`,
  );
  return `--import=${file}`;
}

/**
 * Runs the benchmark scenarios and rewrites bench/RESULTS.md (and bench/results.json).
 *
 *   npm run bench                      # every scenario (builds dist/ first)
 *   npm run bench:quick                # every scenario, short and small
 *   npx tsx bench/run.ts 1-broadcast rss --quick   # some scenarios, by id or part of it
 *
 * A scenario that fails is recorded as failed and the others still run; a scenario running past
 * its deadline ends the whole run (exit hooks kill every process the run started).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gitCommit, machine, readResults, writeResults, type ScenarioRun } from './lib/results-md.js';
import type { BenchContext, Measurement } from './lib/scenario.js';
import { scenarios } from './scenarios/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const JSON_PATH = fileURLToPath(new URL('./results.json', import.meta.url));
const MD_PATH = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
const SCENARIO_DEADLINE_MS = Number(process.env['BENCH_SCENARIO_TIMEOUT_MS'] ?? 20 * 60_000);

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
const selected = names.length === 0 ? scenarios : scenarios.filter((s) => names.some((n) => s.id === n || s.id.includes(n)));
if (selected.length === 0) {
  console.error(`no scenario matches ${names.join(', ')}; known: ${scenarios.map((s) => s.id).join(', ')}`);
  process.exit(2);
}
if (!existsSync(new URL('../dist/cli.js', import.meta.url))) {
  console.error('dist/cli.js is missing: run `npm run build` first (npm run bench does)');
  process.exit(2);
}
// Ctrl-C and kill end through process.exit, so every 'exit' hook (the harness', the peers') runs.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

const started = Date.now();
const stamp = () => `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`;

const results = readResults(JSON_PATH);
let failures = 0;
for (const s of selected) {
  const params: Record<string, string | number> = {};
  const notes: string[] = [];
  const ctx: BenchContext = {
    quick,
    log: (m) => console.log(`${stamp()} ${s.id}: ${m}`),
    param: (name, value) => {
      params[name] = value;
    },
    explain: (text) => {
      notes.push(text);
    },
  };
  const run: ScenarioRun = {
    id: s.id,
    title: s.title,
    quick,
    date: new Date().toISOString(),
    durationSeconds: 0,
    commit: gitCommit(ROOT),
    machine: machine(),
    params,
    measurements: [],
    notes,
  };
  console.log(`${stamp()} ${s.id}: ${s.title}${quick ? ' (quick)' : ''}`);
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${SCENARIO_DEADLINE_MS / 1000} s`)), SCENARIO_DEADLINE_MS);
    });
    run.measurements = await Promise.race([s.run(ctx), deadline]);
  } catch (err) {
    run.error = (err as Error).stack ?? String(err);
    failures++;
    console.error(`${stamp()} ${s.id}: FAILED: ${run.error}`);
  } finally {
    clearTimeout(timer);
  }
  run.durationSeconds = (Date.now() - t0) / 1000;
  results.scenarios[s.id] = run;
  writeResults(JSON_PATH, MD_PATH, results);
  for (const m of run.measurements) console.log(`${stamp()} ${s.id}: ${line(m)}`);
  if (run.error?.startsWith('Error: still running after')) break;
}
console.log(`${stamp()} wrote ${MD_PATH}`);
// Anything a timed-out scenario left running dies with the exit hooks.
process.exit(failures > 0 ? 1 : 0);

function line(m: Measurement): string {
  const target = m.target ? ` (target ${m.target}: ${m.met ? 'met' : 'NOT met'})` : '';
  return `${m.subject} ${m.metric} = ${m.value} ${m.unit}${target}`;
}

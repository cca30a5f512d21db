/**
 * The frame parser under fast-check, long run (issue 14 §8): 100,000 cases with a fixed seed over
 * the inputs of test/helpers/frame-fuzz.ts (the unit suite runs 10,000 of them). Every input must
 * give a valid request or a documented error; nothing may throw.
 *
 *   npx tsx bench/fuzz/frames.ts                 # 100,000 cases, seed 14
 *   npx tsx bench/fuzz/frames.ts 1000000 7       # other case count and seed
 *
 * Prints one JSON line: cases, seed, failures, time, and the outcomes by request type and error code.
 * Exits 1 on a failure, after printing fast-check's counterexample (shrunk) and its replay path.
 */
import fc from 'fast-check';
import { FUZZ_SEED, checkFrame, frameInput } from '../../test/helpers/frame-fuzz.js';

const cases = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? FUZZ_SEED);
const outcomes: Record<string, number> = {};
const started = performance.now();
const details = fc.check(
  fc.property(frameInput, (input) => {
    const r = checkFrame(input);
    const key = r.ok ? `ok:${r.message.type}` : `error:${r.code}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }),
  { numRuns: cases, seed },
);
const ms = Math.round(performance.now() - started);
if (details.failed) console.error(fc.defaultReportMessage(details));
console.log(JSON.stringify({ bench: 'fuzz/frames', cases: details.numRuns, seed, failures: details.failed ? 1 : 0, ms, outcomes }));
process.exitCode = details.failed ? 1 : 0;

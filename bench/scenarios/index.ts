/** The scenarios `npm run bench` runs, in this order (bench/run.ts). */
import type { Scenario } from '../lib/scenario.js';
import { broadcast } from './broadcast.js';
import { latency } from './latency.js';
import { rss } from './rss.js';
import { selective } from './selective.js';

export const scenarios: Scenario[] = [broadcast, latency, rss, selective];

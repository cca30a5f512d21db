/** The scenarios `npm run bench` runs, in this order (bench/run.ts). */
import type { Scenario } from '../lib/scenario.js';
import { broadcast } from './broadcast.js';
import { broadcastPredicates } from './broadcast-predicates.js';
import { broadcastScoped } from './broadcast-scoped.js';
import { broadcastSse } from './broadcast-sse.js';
import { connectStorm } from './connect-storm.js';
import { failover } from './failover.js';
import { latency } from './latency.js';
import { reconnect } from './reconnect.js';
import { rss } from './rss.js';
import { rssFilters } from './rss-filters.js';
import { selective } from './selective.js';
import { source } from './source.js';

export const scenarios: Scenario[] = [broadcast, broadcastScoped, broadcastPredicates, broadcastSse, latency, rss, rssFilters, selective, source, reconnect, failover, connectStorm];

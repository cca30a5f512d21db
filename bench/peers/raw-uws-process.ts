/**
 * The raw uWS subject: its own throw-away redis-server and a raw-uws.ts process on 127.0.0.1.
 * Notifications go in as Redis PUBLISH (one MULTI/EXEC per batch) of the very frame the notifier
 * edge would send (built with the notifier's own envelope code), on channel `bench:all`, or
 * `bench:user:<id>` when the item names a user.
 */
import { fileURLToPath } from 'node:url';
import { publishFrames, startRedisFed } from './redis-fed.js';
import type { Subject } from './subject.js';

/** `nodeArgs`: extra node options of the server process. */
export function startRawUws(nodeArgs: readonly string[] = []): Promise<Subject> {
  return startRedisFed({
    nodeArgs,
    name: 'raw uWS',
    mode: 'raw',
    path: '/ws',
    server: fileURLToPath(new URL('./raw-uws.ts', import.meta.url)),
    input: (pub) => (items) => publishFrames(pub, items),
  });
}

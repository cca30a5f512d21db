/**
 * The `ws` + ioredis subject: its own throw-away redis-server and a ws-ioredis.ts process on
 * 127.0.0.1, fed exactly like raw uWS (one MULTI/EXEC of PUBLISHes per batch, the frame the
 * notifier edge would send, on `bench:all` or `bench:user:<id>`).
 */
import { fileURLToPath } from 'node:url';
import { publishFrames, startRedisFed } from './redis-fed.js';
import type { Subject } from './subject.js';

/** `nodeArgs`: extra node options of the server process. */
export function startWsIoredis(nodeArgs: readonly string[] = []): Promise<Subject> {
  return startRedisFed({
    nodeArgs,
    name: 'ws + ioredis',
    mode: 'raw',
    path: '/ws',
    server: fileURLToPath(new URL('./ws-ioredis.ts', import.meta.url)),
    input: (pub) => (items) => publishFrames(pub, items),
  });
}

/**
 * The Socket.IO 4 subject: its own throw-away redis-server and a socketio.ts process on
 * 127.0.0.1. Notifications go in the way Socket.IO documents publishing from another process:
 * @socket.io/redis-emitter, `emitter.to(topic).emit('notification', object)`, which the server's
 * Redis adapter picks up and delivers to the room. The object is the notifier edge's frame
 * parsed, so the wire frame is `42["notification",{…}]` with the same fields (and `sent_at`).
 */
import { fileURLToPath } from 'node:url';
import { Emitter } from '@socket.io/redis-emitter';
import { notifierFrame, startRedisFed, topicOf } from './redis-fed.js';
import type { Subject } from './subject.js';

/** `nodeArgs`: extra node options of the server process. */
export function startSocketIo(nodeArgs: readonly string[] = []): Promise<Subject> {
  return startRedisFed({
    nodeArgs,
    name: 'Socket.IO 4',
    mode: 'socketio',
    path: '/socket.io/',
    server: fileURLToPath(new URL('./socketio.ts', import.meta.url)),
    // The emitter PUBLISHes without waiting; auto-pipelining sends one batch's PUBLISHes in one
    // write, and the PING after them resolves once Redis has run them all.
    pubOptions: { enableAutoPipelining: true },
    input: (pub) => {
      const emitter = new Emitter(pub);
      return async (items) => {
        const now = new Date();
        for (const it of items) emitter.to(topicOf(it)).emit('notification', JSON.parse(notifierFrame(it, now)) as unknown);
        await pub.ping();
      };
    },
  });
}

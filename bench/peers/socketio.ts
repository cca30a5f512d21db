/**
 * A peer: Socket.IO 4 with the Redis adapter (@socket.io/redis-adapter on ioredis), the usual
 * way to scale Socket.IO out. A client names its topics in the handshake query
 * (`/socket.io/?EIO=4&transport=websocket&topics=a,b`) and joins one room per topic. Nothing here
 * sends: notifications are published into Redis from elsewhere with @socket.io/redis-emitter
 * (socketio-process.ts), and the adapter delivers them to the room's sockets.
 *
 * Run as a child process (see redis-fed.ts): PORT, REDIS_URL (BENCH_PREFIX is not used: the
 * adapter has its own channels). WebSocket transport only, no compression; pings far enough apart
 * not to fall in a measurement (the load generator answers them anyway).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const port = Number(process.env['PORT'] ?? '0');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const pubClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
const subClient = pubClient.duplicate();
for (const c of [pubClient, subClient]) c.on('error', (err: Error) => console.error(`socketio redis: ${err.message}`));

const http = createServer();
const io = new Server(http, {
  adapter: createAdapter(pubClient, subClient),
  serveClient: false,
  transports: ['websocket'],
  perMessageDeflate: false,
  pingInterval: 120_000,
  pingTimeout: 60_000,
});

io.on('connection', (socket) => {
  const q = socket.handshake.query['topics'];
  const topics = (typeof q === 'string' ? q : '').split(',').filter((t) => t !== '');
  void socket.join(topics);
});

http.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: (http.address() as AddressInfo).port }));
});
process.on('disconnect', () => process.exit(0));

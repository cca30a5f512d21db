/**
 * A peer: the common Node.js way to push Redis pub/sub to browsers — a `ws` WebSocketServer and
 * an ioredis subscriber, with the topic → sockets map an app keeps itself. Every message on Redis
 * channel `<prefix><topic>` is sent to each socket of that topic with `ws.send`, in a loop.
 * Clients connect as to raw-uws.ts: topics in the URL (`/ws?topics=a,b`), then one
 * `{"type":"subscribed"}` frame.
 *
 * Run as a child process (see ws-ioredis-process.ts, redis-fed.ts): PORT, REDIS_URL,
 * BENCH_PREFIX. No compression, no backpressure limit and no pings: `ws`'s defaults, as most apps
 * leave them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env['PORT'] ?? '0');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = process.env['BENCH_PREFIX'] ?? 'bench:';

const SUBSCRIBED = '{"type":"subscribed"}';
const byTopic = new Map<string, Set<WebSocket>>();

const http = createServer();
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false, clientTracking: false });

wss.on('connection', (ws, req) => {
  const topics = (new URL(req.url ?? '/', 'http://x').searchParams.get('topics') ?? '').split(',').filter((t) => t !== '');
  for (const t of topics) {
    let set = byTopic.get(t);
    if (!set) byTopic.set(t, (set = new Set()));
    set.add(ws);
  }
  ws.on('error', () => undefined);
  ws.on('close', () => {
    for (const t of topics) {
      const set = byTopic.get(t);
      set?.delete(ws);
      if (set?.size === 0) byTopic.delete(t);
    }
  });
  ws.send(SUBSCRIBED);
});

const sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
sub.on('error', (err: Error) => console.error(`ws-ioredis redis: ${err.message}`));
sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
  const sockets = byTopic.get(channel.slice(prefix.length));
  if (!sockets) return;
  for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(message);
});

await sub.psubscribe(`${prefix}*`);
http.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: (http.address() as AddressInfo).port }));
});
process.on('disconnect', () => process.exit(0));

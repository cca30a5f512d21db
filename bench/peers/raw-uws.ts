/**
 * The ceiling: a bare uWebSockets.js server fed by Redis pub/sub. Every message on Redis channel
 * `<prefix><topic>` is handed to `app.publish(topic, message)` untouched — no parsing, no
 * routing, fan-out in native code. A client names its topics in the URL (`/ws?topics=a,b`); the
 * server subscribes it and sends one `{"type":"subscribed"}` frame.
 *
 * Run as a child process (see raw-uws-process.ts): PORT (0 = any), REDIS_URL, BENCH_PREFIX. It
 * prints `{"event":"listening","port":N}` and exits when its parent's IPC channel closes.
 * Socket settings match the notifier edge's defaults (no compression, 4 MiB hard backpressure
 * closing the socket, 120 s idle timeout with automatic pings).
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type * as Uws from 'uWebSockets.js';

const require = createRequire(import.meta.url);
const uws = require('uWebSockets.js') as typeof Uws;

const port = Number(process.env['PORT'] ?? '0');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = process.env['BENCH_PREFIX'] ?? 'bench:';

interface Data {
  topics: string[];
}

const SUBSCRIBED = '{"type":"subscribed"}';
const app = uws.App();
let connections = 0;

app.ws<Data>('/ws', {
  compression: uws.DISABLED,
  maxPayloadLength: 16 * 1024,
  maxBackpressure: 4 * 1024 * 1024,
  closeOnBackpressureLimit: 1,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    const topics = decodeURIComponent(req.getQuery('topics') ?? '').split(',').filter((t) => t !== '');
    res.upgrade<Data>(
      { topics },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    connections++;
    for (const t of ws.getUserData().topics) ws.subscribe(t);
    ws.send(SUBSCRIBED, false);
  },
  close: () => {
    connections--;
  },
});
app.get('/stats', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify({ connected_clients: connections }));
});

const sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
sub.on('error', (err: Error) => console.error(`raw-uws redis: ${err.message}`));
sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => {
  app.publish(channel.toString('latin1', prefix.length), message, false, false);
});

await sub.psubscribe(`${prefix}*`);
app.listen('127.0.0.1', port, (token) => {
  if (!token) {
    console.error(`raw-uws: cannot listen on 127.0.0.1:${port}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ event: 'listening', port: uws.us_socket_local_port(token) }));
});
process.on('disconnect', () => process.exit(0));

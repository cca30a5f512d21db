/**
 * The listener's HTTP port (the same PORT every role serves): /health, /ready, /metrics.
 * Plain node:http: the listener has no WebSocket traffic, so it does not need uWebSockets.js.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Listener } from './listener.js';

export function startListenerHttp(listener: Listener, registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    switch (path) {
      case '/health':
        return json(200, { status: 'ok' });
      case '/ready': {
        const ready = listener.isReady();
        return json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', role: listener.role, node: listener.id });
      }
      case '/metrics':
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: Error) => json(500, { error: err.message }),
        );
        return;
      default:
        return json(404, { error: 'not found' });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

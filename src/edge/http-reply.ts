/**
 * Small helpers to answer uWS HTTP requests with JSON, synchronously or from an async producer.
 *
 * May import uws (types) only.
 */
import type { Uws } from './uws.js';

/**
 * Writes a complete JSON response, with any extra `headers`; `close` also closes the connection.
 * Call inside the handler or inside res.cork().
 */
export function replyJson(res: Uws.HttpResponse, status: string, body: unknown, headers: Record<string, string> = {}, close = false): void {
  res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  res.end(JSON.stringify(body), close);
}

/**
 * Runs an async producer for an HTTP response. uWS requires onAborted before any await (an
 * async handler without it can abort the whole process), and any call on an aborted response throws.
 */
export function replyAsync(res: Uws.HttpResponse, produce: () => Promise<{ status: string; type: string; body: string }>): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  produce().then(
    (r) => {
      if (!aborted) res.cork(() => res.writeStatus(r.status).writeHeader('content-type', r.type).end(r.body));
    },
    (err: Error) => {
      if (!aborted) res.cork(() => replyJson(res, '500 Internal Server Error', { error: err.message }));
    },
  );
}

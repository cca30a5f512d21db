/**
 * The client's WebSocket: the subprotocols it offers (`notifier.v1`, and `bearer.<token>` with a
 * fresh token for every connect), the constructor it uses (the one given, else the platform's),
 * closing it, and when its token is refreshed.
 *
 * Imports: client types only.
 */
import type { NotifierClientOptions, SocketLike, WebSocketConstructor } from './types.js';

/** Calls `token()` (it may throw or reject: the caller retries); no token (undefined or '') offers no bearer entry. */
export async function protocolsFor(token: NotifierClientOptions['token']): Promise<string[]> {
  const t = token && (await token());
  return t ? ['notifier.v1', 'bearer.' + t] : ['notifier.v1'];
}

/** Throws when there is no WebSocket constructor or it refuses the URL. */
export function openSocket(opts: NotifierClientOptions, protocols: string[]): SocketLike {
  const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Ctor) throw new TypeError('no WebSocket constructor: pass options.WebSocket');
  return new Ctor(opts.url, protocols) as SocketLike;
}

/** Closes a socket, ignoring one that is closed already. */
export function closeQuietly(ws: SocketLike, code: number, reason?: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

/** When to send `refresh` for a token expiring at `expiresAt` (welcome's, ISO 8601): ms from now, or undefined. */
export function refreshDelay(expiresAt: unknown, beforeMs = 60_000): number | undefined {
  const at = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(1000, at - Date.now() - beforeMs);
}

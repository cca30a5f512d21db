/**
 * Loads uWebSockets.js and detects the package's silent fallback.
 *
 * We install the v20.30 build published on the npm registry (see README, "uWebSockets.js and
 * Node versions"). When its native binary cannot load (another Node ABI, another libc), it
 * logs a warning and returns a JavaScript shim on top of `ws` that is ~20× slower and lacks
 * native publish. An edge must not run on that by accident. Also binds the listen socket
 * exclusively (listenExclusive).
 *
 * May import uWebSockets.js only.
 */
import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

export type { Uws };

const require = createRequire(import.meta.url);

export interface LoadedUws {
  uws: typeof Uws;
  native: boolean;
}

export class UwsFallbackError extends Error {
  override readonly name = 'UwsFallbackError';
}

export function loadUws(allowFallback: boolean): LoadedUws {
  const uws = require('uWebSockets.js') as typeof Uws;
  const native = isNative(uws);
  if (!native && !allowFallback) {
    throw new UwsFallbackError(
      `uWebSockets.js could not load its native binary for Node ${process.version} ` +
        `(${process.platform}-${process.arch}, ABI ${process.versions.modules}) and fell back to a slow ws-based shim. ` +
        'Run the edge on Node 20 (see README, "uWebSockets.js and Node versions"), ' +
        'or set NOTIFIER_ALLOW_UWS_FALLBACK=1 to accept the fallback knowingly.',
    );
  }
  return { uws, native };
}

function isNative(uws: typeof Uws): boolean {
  let fallbackLoaded = false;
  try {
    fallbackLoaded = require.resolve('uWebSockets.js/dist/index.js') in require.cache;
  } catch {
    // No fallback shipped with this build: only native code can have loaded.
  }
  const nativeApp = /\[native code\]/.test(Function.prototype.toString.call(uws.App));
  return nativeApp && !fallbackLoaded;
}

/**
 * Listens on host:port, exclusively: by default uWS binds with SO_REUSEPORT, so a second process
 * on the same port would silently share it instead of failing. (The native code takes host,
 * port, options; 20.30's index.d.ts only types options without a host.) Resolves with the
 * listen socket and the port bound (port 0 picks a free one).
 */
export function listenExclusive(
  uws: typeof Uws,
  app: Uws.TemplatedApp,
  host: string,
  port: number,
): Promise<{ socket: Uws.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (token: Uws.us_listen_socket | false) => void) => Uws.TemplatedApp;
    const exclusive = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;
    listen.call(app, host, port, exclusive, (token) => {
      if (!token) {
        reject(new Error(`cannot listen on ${host}:${port} (port in use or not permitted); set PORT to a free port`));
        return;
      }
      resolve({ socket: token, port: uws.us_socket_local_port(token) });
    });
  });
}

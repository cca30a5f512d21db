/**
 * Loads uWebSockets.js and detects the package's silent fallback.
 *
 * We install the v20.30 build published on the npm registry (see README, "uWebSockets.js and
 * Node versions"). When its native binary cannot load (another Node ABI, another libc), it
 * logs a warning and returns a JavaScript shim on top of `ws` that is ~20× slower and lacks
 * native publish. An edge must not run on that by accident.
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

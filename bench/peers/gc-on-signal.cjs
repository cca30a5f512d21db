// Bench only (NODE_OPTIONS="--expose-gc --require …/gc-on-signal.cjs"): SIGUSR2 runs a full
// garbage collection, so an RSS reading afterwards counts what connections hold, not the garbage
// their handshakes left for V8 to collect when it gets round to it.
'use strict';
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());

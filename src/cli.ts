#!/usr/bin/env node
/**
 * The `notifier` command. Sets notifier's V8 defaults (v8-defaults.ts) before the rest of
 * notifier is even loaded: loading and compiling its modules alone grew the young generation to
 * 8 MB, which a flag set afterwards no longer shrinks (an ESM import graph is loaded in full
 * before its first module runs, hence the dynamic import).
 */
import './v8-defaults.js';

const { runCli } = await import('./command.js');
runCli(process.argv.slice(2));

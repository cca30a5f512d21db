/**
 * notifier <command>: parse arguments, load configuration, start a role, handle signals.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.
 * Loaded by cli.ts once the V8 defaults are set.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load-config.js';
import { ENV_NAMES, withDefaultDatabase } from './config/schema.js';
import { runMigrations } from './migrate/run-migrations.js';
import { notifyCommand } from './notify/notify-command.js';
import { createLogger } from './observability/logger.js';
import { startRole, type RoleName } from './roles.js';
import { youngGeneration } from './v8-defaults.js';

const USAGE = `Usage: notifier <command> [options]

Commands:
  start       listener + edge in one process (uses Redis when REDIS_URL is set, else an in-process bus);
              applies migrations first unless --no-migrate / NOTIFIER_MIGRATE=false. Without
              DATABASE_URL it runs its own PostgreSQL (data in NOTIFIER_DATA_DIR, ./.notifier/postgres)
  listener    leader-elected PostgreSQL listener publishing to Redis (needs REDIS_URL)
  edge        WebSocket edge fanning out from Redis to clients (needs REDIS_URL)
  migrate     apply the database migrations and exit
  notify <channel> <json> [--outbox]
              send one notification: a plain NOTIFY, or through the outbox (notifier.publish) with
              --outbox; to DATABASE_URL, else to the PostgreSQL of a running \`notifier start\`

Options:
  --config <file.yaml>   settings file (environment variables override it)
  --log-level <level>    fatal, error, warn, info, debug, trace or silent
  --no-migrate           (start) do not apply migrations
  --outbox               (notify) send through the outbox
  -h, --help             this help

Environment: ${Object.values(ENV_NAMES).slice(0, 6).join(', ')}, … (see README.md, Configuration)
`;

const COMMANDS = new Set(['start', 'listener', 'edge', 'migrate', 'notify']);
const ARGUMENTS: Record<string, number> = { notify: 2 };

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        'log-level': { type: 'string' },
        'no-migrate': { type: 'boolean' },
        outbox: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`notifier: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const command = positionals[0];
  if (command === undefined || !COMMANDS.has(command)) {
    process.stderr.write(`notifier: ${command === undefined ? 'missing command' : `unknown command "${positionals.join(' ')}"`}\n\n${USAGE}`);
    return 2;
  }
  const args = positionals.slice(1);
  const expected = ARGUMENTS[command] ?? 0;
  if (args.length !== expected) {
    const problem = expected === 0 ? `unknown command "${positionals.join(' ')}"` : `${command} takes ${expected} arguments, got ${args.length}`;
    process.stderr.write(`notifier: ${problem}\n\n${USAGE}`);
    return 2;
  }
  if (values.outbox && command !== 'notify') {
    process.stderr.write(`notifier: --outbox is an option of notify only\n\n${USAGE}`);
    return 2;
  }

  let config;
  try {
    config = loadConfig({
      file: values.config,
      overrides: { logLevel: values['log-level'], migrate: values['no-migrate'] ? false : undefined },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`notifier: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (command === 'notify') {
    const [channel = '', json = ''] = args;
    return notifyCommand(config, { channel, json, outbox: values.outbox === true }, {
      out: (s) => process.stdout.write(s),
      err: (s) => process.stderr.write(s),
    });
  }

  const logger = createLogger(config.logLevel, { role: command });
  const newSpaceBytes = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size;
  logger.debug(
    { event: 'process:v8', youngGeneration: youngGeneration.flags, source: youngGeneration.source, newSpaceBytes },
    `V8 young generation: ${youngGeneration.flags} (${youngGeneration.source === 'notifier' ? "notifier's default" : 'set by the operator'})`,
  );
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ event: 'process:unhandled-rejection', err: reason }, 'unhandled promise rejection');
    process.exit(1);
  });

  if (command === 'migrate') {
    try {
      await runMigrations(withDefaultDatabase(config).databaseUrl, logger);
      return 0;
    } catch (err) {
      logger.error({ event: 'migrate:error' }, (err as Error).message);
      return 1;
    }
  }

  const shutdown = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ event: 'process:signal', signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ event: 'process:signal', signal: sig }, 'shutting down');
    shutdown.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let running;
  try {
    running = await startRole(command as RoleName, config, logger, shutdown.signal);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`notifier: ${err.message}\n`);
      return 2;
    }
    if (shutdown.signal.aborted) return 0;
    logger.fatal({ event: 'process:start:error' }, (err as Error).message);
    return 1;
  }
  if (running.banner !== undefined) process.stdout.write(running.banner);
  if (!shutdown.signal.aborted) {
    await new Promise<void>((resolve) => shutdown.signal.addEventListener('abort', () => resolve(), { once: true }));
  }
  await running.stop();
  logger.info({ event: 'process:stopped' }, 'stopped');
  return 0;
}

/** Runs the command line and exits with its code. */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
      // Roles close their handles on stop; don't let a stray keep-alive timer hold the exit.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`notifier: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

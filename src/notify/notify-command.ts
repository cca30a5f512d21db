/**
 * `notifier notify <channel> <json> [--outbox]`: sends one notification through DATABASE_URL, or,
 * without it, through the embedded PostgreSQL of a `notifier start` running on the same data
 * directory (so the example that `start` prints works from a second terminal as it is).
 *
 * Imports: notify/, config/ types, embedded/ (the running state file), protocol/, util/ and pg.
 */
import { resolve } from 'node:path';
import pg from 'pg';
import { maskUrl } from '../util/mask-url.js';
import type { Config } from '../config/schema.js';
import { readRunningState, runningStatePath } from '../embedded/running-state.js';
import { validateSendRequest, type SendRequest } from '../protocol/send-request.js';
import { sendNotification } from './send-notification.js';

export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

/** Exit code: 0 sent, 1 no database or the database failed, 2 an invalid request. */
export async function notifyCommand(config: Config, request: SendRequest, io: CommandIo): Promise<number> {
  const invalid = validateSendRequest(request);
  if (invalid) {
    io.err(`notifier notify: ${invalid}\n`);
    return 2;
  }
  const target = findDatabase(config);
  if ('problem' in target) {
    io.err(`notifier notify: ${target.problem}\n`);
    return 1;
  }
  const client = new pg.Client({ connectionString: target.url, application_name: 'notifier-notify', connectionTimeoutMillis: 5000, query_timeout: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    io.err(`notifier notify: cannot connect to PostgreSQL at ${maskUrl(target.url)}: ${describe(err)}. ${target.hint}\n`);
    return 1;
  }
  try {
    await sendNotification(client, request);
  } catch (err) {
    io.err(`notifier notify: ${(err as Error).message} (PostgreSQL at ${maskUrl(target.url)})\n`);
    return 1;
  } finally {
    await client.end().catch(() => undefined);
  }
  const how = request.outbox ? 'through the outbox (notifier.publish)' : 'as a plain NOTIFY';
  io.out(`sent ${how} on channel ${request.channel} to ${maskUrl(target.url)}\n`);
  if (!request.outbox && !config.channels.includes(request.channel)) {
    io.err(
      `notifier notify: note: ${request.channel} is not in NOTIFIER_CHANNELS, so listeners with these settings do not LISTEN on it; ` +
        'send it with --outbox, or add the channel to NOTIFIER_CHANNELS\n',
    );
  }
  return 0;
}

function findDatabase(config: Config): { url: string; hint: string } | { problem: string } {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, hint: 'Check DATABASE_URL.' };
  const dataDir = resolve(config.dataDir);
  let state;
  try {
    state = readRunningState(dataDir);
  } catch (err) {
    return { problem: `DATABASE_URL is not set, and ${runningStatePath(dataDir)} cannot be read (${(err as Error).message}); set DATABASE_URL` };
  }
  if (state === undefined) {
    return {
      problem:
        `DATABASE_URL is not set, and no \`notifier start\` runs with an embedded PostgreSQL on ${dataDir}. ` +
        'Run `npx notifier start` in this directory first (or set NOTIFIER_DATA_DIR to the data directory it uses), or set DATABASE_URL.',
    };
  }
  if (state.databaseUrl === undefined) {
    return { problem: `\`notifier start\` (pid ${state.pid}) is still starting its PostgreSQL on ${dataDir}; try again in a moment` };
  }
  return { url: state.databaseUrl, hint: `Is \`notifier start\` (pid ${state.pid}) still running?` };
}

/** pg's errors, and Node's AggregateError for a host with several addresses (whose message is empty). */
function describe(err: unknown): string {
  const e = err as Error & { code?: string; errors?: Error[] };
  if (e.message) return e.message;
  if (e.errors?.length) return e.errors.map((x) => x.message).join('; ');
  return e.code ?? String(err);
}

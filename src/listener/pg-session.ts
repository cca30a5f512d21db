/**
 * A dedicated pg.Client tuned for the leader (never a pool, never PgBouncer in transaction
 * mode): the LISTEN connection that also holds the advisory lock, and the outbox connection.
 *
 * A partitioned leader would otherwise keep its session — and its lock — for as long as TCP
 * lets it, so standbys never take over. The server ends the session a few seconds after the
 * link dies (idle_session_timeout, idle_in_transaction_session_timeout, TCP keepalives and
 * tcp_user_timeout), and every leader query has a client-side timeout below that, so the
 * leader steps down before the server frees the lock.
 *
 * Imports: util/ and pg only.
 */
import pg from 'pg';
import { maskUrl } from '../util/mask-url.js';

export interface SessionOptions {
  databaseUrl: string;
  applicationName: string;
  /** Server-side session timeouts (ms): the server ends a silent session after this long. */
  sessionTimeoutMs: number;
  /** Client-side deadline for connecting and for each query (ms). */
  queryTimeoutMs: number;
  onError: (err: Error) => void;
}

export class QueryTimeoutError extends Error {
  override readonly name = 'QueryTimeoutError';
}

export class DatabaseUnreachableError extends Error {
  override readonly name = 'DatabaseUnreachableError';
}

export async function openSession(opts: SessionOptions): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: opts.databaseUrl,
    application_name: opts.applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1000,
    connectionTimeoutMillis: opts.queryTimeoutMs,
  });
  // An 'error' on an idle client with no listener crashes the process.
  client.on('error', opts.onError);
  try {
    await client.connect();
  } catch (err) {
    destroySession(client);
    throw new DatabaseUnreachableError(
      `cannot connect to PostgreSQL at ${maskUrl(opts.databaseUrl)}: ${(err as Error).message}. ` +
        'Check DATABASE_URL and that PostgreSQL is running and accepts connections.',
      { cause: err },
    );
  }
  const t = opts.sessionTimeoutMs;
  const keepaliveIdle = Math.max(1, Math.floor(t / 4000));
  await query(
    client,
    `SELECT set_config('idle_in_transaction_session_timeout', $1, false),
            set_config('tcp_keepalives_idle', $2, false),
            set_config('tcp_keepalives_interval', '1', false),
            set_config('tcp_keepalives_count', '3', false),
            set_config('tcp_user_timeout', $1, false),
            set_config('lock_timeout', $3, false),
            CASE WHEN current_setting('server_version_num')::int >= 140000
                 THEN set_config('idle_session_timeout', $1, false) END`,
    // A query waiting on a lock is cancelled by the server itself well before the client gives up
    // on it: a query abandoned by the client would otherwise keep waiting, and then hold, the lock.
    [String(t), String(keepaliveIdle), String(Math.max(1, Math.floor(opts.queryTimeoutMs / 2)))],
    opts.queryTimeoutMs,
  ).catch((err: unknown) => {
    destroySession(client);
    throw err;
  });
  return client;
}

/** Runs a query with a client-side deadline. After a timeout the session must be destroyed. */
export function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.Client,
  text: string,
  params: unknown[],
  timeoutMs: number,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new QueryTimeoutError(`query did not complete within ${timeoutMs} ms: ${text.slice(0, 60)}`)),
      timeoutMs,
    );
    client.query<R>(text, params).then(
      (r) => {
        clearTimeout(timer);
        resolve(r);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Ends a session at once, even when the server is unreachable (client.end() would wait for a
 * reply that may never come). PostgreSQL releases the session's advisory locks when it notices.
 */
export function destroySession(client: pg.Client): void {
  client.end().catch(() => undefined);
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  stream?.destroy();
}

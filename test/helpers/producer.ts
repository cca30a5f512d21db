/**
 * Writes numbered notifications through the outbox at a steady rate on one connection, as an
 * application would; each commits on its own.
 *
 * Resilient mode survives PostgreSQL restarts and cut connections without ever committing a
 * number twice: each notification commits together with its number in a `produced` table, and
 * after a failure the producer checks that table before retrying (a commit whose reply was
 * lost is thus not repeated).
 */
import pg from 'pg';

export interface ProducerResult {
  sent: number;
  /** Connection failures retried (resilient mode). */
  retries: number;
}

export interface ProduceOptions {
  databaseUrl: string;
  count: number;
  intervalMs: number;
  entityType: string;
  channel?: string;
  /** Retry through connection failures, exactly once per number (creates table `produced`). */
  resilient?: boolean;
  /** Gives up when one notification cannot be committed for this long (resilient mode). */
  retryForMs?: number;
  /** Extra payload bytes per notification (a `pad` field). */
  padBytes?: number;
  /** At number `at`, commit `size` numbers in one transaction, each with `padBytes` of padding (resilient mode). */
  burst?: { at: number; size: number; padBytes: number };
  /**
   * Payload fields of notification `seq` besides entity_type, entity_id and seq (e.g. `user_id`),
   * applied over them: an `entity_type` here replaces `entityType` for that notification.
   */
  fields?: (seq: number) => Record<string, unknown>;
  /** Called after each commit with the number committed so far. */
  onSent?: (sent: number) => void | Promise<void>;
}

export async function produce(opts: ProduceOptions): Promise<ProducerResult> {
  let client = await connect(opts.databaseUrl);
  let retries = 0;
  try {
    if (opts.resilient) await client.query(`CREATE TABLE IF NOT EXISTS produced (channel text, seq int, PRIMARY KEY (channel, seq))`);
    const channel = opts.channel ?? 'seq_event';
    for (let i = 0; i < opts.count; i++) {
      const started = Date.now();
      const burst = opts.burst && i === opts.burst.at ? opts.burst : undefined;
      const last = burst ? Math.min(opts.count, i + burst.size) - 1 : i;
      const pad = burst ? burst.padBytes : (opts.padBytes ?? 0);
      const payload = JSON.stringify({ entity_type: opts.entityType, entity_id: i, seq: i, ...(pad ? { pad: 'x'.repeat(pad) } : {}), ...opts.fields?.(i) });
      // One object of extra fields per number of this commit (the burst's too), merged in SQL below.
      const extras = JSON.stringify(Array.from({ length: last - i + 1 }, (_, k) => opts.fields?.(i + k) ?? {}));
      if (!opts.resilient) {
        await client.query(`SELECT notifier.publish($1, $2::jsonb)`, [channel, payload]);
      } else {
        const deadline = Date.now() + (opts.retryForMs ?? 60_000);
        for (;;) {
          try {
            await client.query('BEGIN');
            const done = await client.query(`SELECT 1 FROM produced WHERE channel = $1 AND seq = $2`, [channel, i]);
            if (done.rowCount === 0) {
              await client.query(`INSERT INTO produced SELECT $1, g FROM generate_series($2::int, $3::int) g`, [channel, i, last]);
              // Same payload shape as above, built in SQL for the burst (one row per number, in order).
              await client.query(
                `SELECT notifier.publish($1, (CASE WHEN $5::int > 0
                   THEN jsonb_build_object('entity_type', $4::text, 'entity_id', g, 'seq', g, 'pad', repeat('x', $5::int))
                   ELSE jsonb_build_object('entity_type', $4::text, 'entity_id', g, 'seq', g) END) || ($6::jsonb -> (g - $2::int)))
                   FROM generate_series($2::int, $3::int) g ORDER BY g`,
                [channel, i, last, opts.entityType, pad, extras],
              );
            }
            await client.query('COMMIT');
            break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            retries += 1;
            await client.end().catch(() => undefined);
            await new Promise((r) => setTimeout(r, 100));
            client = await connect(opts.databaseUrl).catch(() => client);
          }
        }
      }
      i = last;
      await opts.onSent?.(i + 1);
      const wait = opts.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    return { sent: opts.count, retries };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Checks a client's sequence: every seq 0..count-1 exactly once, in order. */
export function sequenceReport(seqs: number[], count: number) {
  const seen = new Map<number, number>();
  for (const s of seqs) seen.set(s, (seen.get(s) ?? 0) + 1);
  const missing = [...Array(count).keys()].filter((i) => !seen.has(i));
  const duplicated = [...seen.entries()].filter(([, n]) => n > 1).map(([s]) => s);
  const inOrder = seqs.every((s, i) => i === 0 || s > (seqs[i - 1] ?? -1));
  return { expected: count, received: seqs.length, missing, duplicated, inOrder };
}

/**
 * Writes numbered notifications through the outbox at a steady rate on one connection, as an
 * application would; each commits on its own.
 */
import pg from 'pg';

export interface ProducerResult {
  sent: number;
}

export async function produce(opts: {
  databaseUrl: string;
  count: number;
  intervalMs: number;
  entityType: string;
  channel?: string;
  /** Called after each commit with the number committed so far. */
  onSent?: (sent: number) => void | Promise<void>;
}): Promise<ProducerResult> {
  const client = new pg.Client({ connectionString: opts.databaseUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    for (let i = 0; i < opts.count; i++) {
      const started = Date.now();
      await client.query(`SELECT notifier.publish($1, $2::jsonb)`, [
        opts.channel ?? 'seq_event',
        JSON.stringify({ entity_type: opts.entityType, entity_id: i, seq: i }),
      ]);
      await opts.onSent?.(i + 1);
      const wait = opts.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    return { sent: opts.count };
  } finally {
    await client.end();
  }
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

/**
 * The reconnect storm's source: `SELECT pg_notify(channel, '{"entity_type":"storm","seq":n}')` at
 * a fixed rate on one PostgreSQL connection (a drift-free schedule; one statement in flight), so
 * every notification has a sequence number 0, 1, 2, … in commit order.
 */
import pg from 'pg';

export class StormProducer {
  /** Statements that returned (committed): seqs 0 … committed - 1. */
  committed = 0;
  private readonly client: pg.Client;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly channel: string,
    private readonly perSecond: number,
    /** Never produce more than this many (the clients' tables hold this many seqs). */
    private readonly limit: number,
  ) {
    this.client = new pg.Client({ connectionString: url, application_name: 'bench-reconnect-producer' });
    this.client.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.loop = this.run();
    this.loop.catch(() => undefined);
  }

  /** Stops producing; resolves with the number of notifications committed. */
  async stop(): Promise<number> {
    this.stopping = true;
    await this.loop?.catch(() => undefined);
    await this.client.end().catch(() => undefined);
    return this.committed;
  }

  private async run(): Promise<void> {
    const t0 = performance.now();
    const every = 1000 / this.perSecond;
    while (!this.stopping && this.committed < this.limit) {
      const seq = this.committed;
      await this.client.query('SELECT pg_notify($1, $2)', [this.channel, `{"entity_type":"storm","entity_id":${seq},"seq":${seq}}`]);
      this.committed = seq + 1;
      const wait = t0 + this.committed * every - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * pgbench as the PostgreSQL-side load generator of scenarios 5 and 7: a custom script run by N
 * clients for a fixed time, against the harness's throw-away PostgreSQL (127.0.0.1 only).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** pgbench from NOTIFIER_PG_BIN, /usr/lib/postgresql/<newest>/bin or PATH (Debian: postgresql-contrib / postgresql-client). */
export function pgbenchBin(): string {
  const fromEnv = process.env['NOTIFIER_PG_BIN'];
  if (fromEnv && existsSync(join(fromEnv, 'pgbench'))) return join(fromEnv, 'pgbench');
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'pgbench')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin', 'pgbench');
  }
  const found = spawnSync('sh', ['-c', 'command -v pgbench'], { encoding: 'utf8' }).stdout.trim();
  if (found) return join(dirname(realpathSync(found)), 'pgbench');
  throw new Error('pgbench not found under /usr/lib/postgresql/*/bin nor on PATH (Debian: apt-get install postgresql-contrib), or set NOTIFIER_PG_BIN');
}

export interface PgbenchOptions {
  port: number;
  database: string;
  /** The custom script (pgbench -f). */
  script: string;
  /** Where to write the script file. */
  dir: string;
  name: string;
  clients: number;
  threads: number;
  seconds: number;
  /** Total transactions per second over all clients (pgbench -R); max rate when omitted. */
  rate?: number;
  /** Called with pgbench's pid once it runs (for CPU accounting). */
  onSpawn?: (pid: number) => void;
  /** Session settings for pgbench's connections (PGOPTIONS), e.g. '-c notifier.wakeup=off'. */
  pgOptions?: string;
}

export interface PgbenchResult {
  /** Transactions processed (each script run commits once). */
  processed: number;
  failed: number;
  /** Wall-clock start and end, as seen from this process (Date.now()). */
  startedAt: number;
  endedAt: number;
  /** pgbench's own tps figure (without connection time). */
  tps: number;
  output: string;
}

export function runPgbench(o: PgbenchOptions): Promise<PgbenchResult> {
  const file = join(o.dir, `${o.name}.sql`);
  writeFileSync(file, o.script);
  const args = ['-n', '-h', '127.0.0.1', '-p', String(o.port), '-U', 'postgres', '-c', String(o.clients), '-j', String(o.threads), '-T', String(o.seconds), '-f', file, ...(o.rate ? ['-R', String(o.rate)] : []), o.database];
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const child = spawn(pgbenchBin(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'], PGCONNECT_TIMEOUT: '5', ...(o.pgOptions ? { PGOPTIONS: o.pgOptions } : {}) } });
    if (child.pid !== undefined) o.onSpawn?.(child.pid);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`pgbench: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      const endedAt = Date.now();
      clearTimeout(timer);
      setImmediate(() => {
        const processed = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1] ?? NaN);
        const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
        const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? NaN);
        if (code !== 0 || !Number.isFinite(processed)) {
          reject(new Error(`pgbench ${args.join(' ')} failed (exit ${code ?? signal}):\n${output.slice(-3000)}`));
          return;
        }
        resolve({ processed, failed, startedAt, endedAt, tps, output });
      });
    });
  });
}

/** A payload like the application's (≈ 90 bytes of JSON), with per-run values from pgbench variables. */
export const PAYLOAD_SQL = `'{"entity_type":"execution","entity_id":' || :id || ',"user_id":' || :client_id || ',"status":"running"}'`;

/** pgbench script: one pg_notify per transaction. */
export function notifyScript(channel: string): string {
  return `\\set id random(1, 1000000)\nSELECT pg_notify('${channel}', ${PAYLOAD_SQL});\n`;
}

/** pgbench script: one notifier.publish (outbox row + wake-up NOTIFY) per transaction. */
export function outboxScript(channel: string): string {
  return `\\set id random(1, 1000000)\nSELECT notifier.publish('${channel}', (${PAYLOAD_SQL})::jsonb);\n`;
}

/**
 * The raw uWS subject: its own throw-away redis-server and a raw-uws.ts process on 127.0.0.1.
 * Notifications go in as Redis PUBLISH (one MULTI/EXEC per batch) of the very frame the notifier edge would send (built with
 * the notifier's own envelope code), on channel `bench:all`, or `bench:user:<id>` when the item
 * names a user.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { envelopeFromText, frameHead, frameWithOffset } from '../../src/protocol/envelope.js';
import { OwnedProcess, freePort } from '../../test/cluster/system.js';
import { BENCH_CHANNEL, own, payloadOf, type BenchItem, type Subject } from './subject.js';

const SERVER = fileURLToPath(new URL('./raw-uws.ts', import.meta.url));
const PREFIX = 'bench:';

/** The frame the notifier edge sends for this item (offset in the same `<ms>-<seq>` shape). */
export function notifierFrame(item: BenchItem, now = new Date()): string {
  const { envelope } = envelopeFromText(BENCH_CHANNEL, payloadOf(item), now);
  return frameWithOffset(frameHead(envelope), `${now.getTime()}-${item.seq}`);
}

export async function startRawUws(): Promise<Subject> {
  const redisPort = await freePort();
  const redis = new OwnedProcess('redis-server', 'redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir(), '--daemonize', 'no',
  ]);
  own(redis.child);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  let server: ChildProcess | undefined;
  let port = 0;
  const pub = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  pub.on('error', () => undefined);

  const startServer = async (): Promise<void> => {
    const child = fork(SERVER, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, BENCH_PREFIX: PREFIX },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    own(child);
    server = child;
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`raw-uws did not listen within 20 s: ${out}`)), 20_000);
      child.once('exit', (code) => reject(new Error(`raw-uws exited (${code}): ${out}`)));
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /"event":"listening","port":(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
  };
  const stopServer = async (): Promise<void> => {
    const s = server;
    if (!s || s.exitCode !== null || s.signalCode !== null) return;
    const exited = new Promise((resolve) => s.once('exit', resolve));
    s.kill('SIGKILL');
    await exited;
  };

  try {
    await redis.waitForOutput(/Ready to accept connections/, 20_000);
    await pub.connect();
    await startServer();
  } catch (err) {
    await stopServer();
    await redis.kill('SIGKILL');
    throw err;
  }

  return {
    name: 'raw uWS',
    mode: 'raw',
    host: '127.0.0.1',
    get port() {
      return port;
    },
    path: '/ws',
    serverPid: () => server?.pid ?? -1,
    processes: () => ({ 'raw uWS': [server?.pid ?? -1], redis: [redis.pid] }),
    // One MULTI/EXEC per batch, like the notifier's one Lua script per batch: Redis runs the
    // PUBLISHes in one go, so the server reads them together and uWS writes each socket once per
    // batch. (With a plain pipeline they trickle in, every socket gets many tiny writes, and on
    // this machine deliveries then stalled in 2 of 3 trials: receive-queue pruning, tail-loss
    // probes and retransmits on loopback.)
    send: async (items) => {
      const now = new Date();
      const p = pub.multi();
      for (const it of items) p.publish(`${PREFIX}${it.userId === null ? 'all' : `user:${it.userId}`}`, notifierFrame(it, now));
      await p.exec();
    },
    restartServer: async () => {
      await stopServer();
      await startServer();
    },
    stop: async () => {
      pub.disconnect();
      await stopServer();
      await redis.kill('SIGKILL');
    },
  };
}

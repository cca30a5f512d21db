import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Unit tests first: a broken pure module fails fast, before any process is spawned.
          sequence: { groupOrder: 0 },
          // The property tests run 10,000 cases each: seconds alone, longer beside other files on 2 cores.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          // Resolves PostgreSQL and Redis once (env, else testcontainers, else a clear failure).
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration files spawn processes; two at a time suits a 2-core machine.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'browser',
          // The live page in Debian's Chromium (playwright-core, no browser download) against `notifier start`.
          include: ['test/browser/**/*.test.ts'],
          sequence: { groupOrder: 2 },
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
        },
      },
      {
        test: {
          name: 'cluster',
          // Multi-process clusters behind HAProxy on a throw-away PostgreSQL and Redis (test/cluster/harness.ts).
          include: ['test/cluster/**/*.test.ts'],
          sequence: { groupOrder: 3 },
          // No globalSetup: the harness starts its own servers, so a case runs without DATABASE_URL/REDIS_URL.
          testTimeout: Number(process.env['NOTIFIER_CLUSTER_TEST_TIMEOUT_MS'] ?? 120_000),
          hookTimeout: 120_000,
          // Each file runs a whole cluster (PostgreSQL, Redis, HAProxy, 5 notifier processes): one at a time.
          maxWorkers: 1,
        },
      },
    ],
  },
});

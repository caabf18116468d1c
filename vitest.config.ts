import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Fails a file that leaves a pool, client, server, child process, worker or timer open.
    setupFiles: ['test/support/setup-leak-check.ts'],
    tags: [
      {
        name: 'server',
        description:
          'Behaviour that depends on the version or settings of the Postgres server the harness provides (DATABASE_URL, else embedded): ' +
          'NOTIFY/LISTEN, logical decoding settings, poolers in front of it, DDL and locks of migrations and partitions, catalog types, ' +
          'planner choices, version-dependent SQL of the read model. CI runs these on a second server (Postgres 15). ' +
          'Tag a file with a `// @module-tag server` line, or a describe/test with `{ tags: ["server"] }`. ' +
          'Tests that start their own embedded Postgres (restarts, replicas, server flags) run on it whatever the harness server is: not tagged.',
      },
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // Reliability tests compare memory after a forced GC.
    execArgv: ['--expose-gc'],
  },
});

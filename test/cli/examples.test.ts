import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, waitForOutput } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { freePort } from '../support/embedded-postgres.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsconfig = fileURLToPath(new URL('../../examples/tsconfig.json', import.meta.url));

/** The README's integration examples, run as a user would (but `pgpulse` resolved to src/, not dist/). */
const examples = [
  { file: 'express.ts', route: '/users/:id' },
  { file: 'fastify.ts', route: '/users/:id' },
  { file: 'hono.ts', route: '/users/:id' },
  { file: 'node-http.ts', route: '/users/:id' },
  { file: 'attach-pool.ts', route: null },
] as const;

describe('examples/', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('typecheck', async () => {
    const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
    await expect(promisify(execFile)(process.execPath, [tsc, '-p', tsconfig], { cwd: root })).resolves.toBeDefined();
  }, 120_000);

  it.each(examples)(
    '$file serves requests, stores them with their route, and flushes on SIGTERM',
    async ({ file, route }) => {
      const port = await freePort();
      // The default node id is stable across restarts (PGPULSE_NODE_ID, the platform's instance name, the host name): name this run's.
      const nodeId = `example-${file}-${port}`;
      const child = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`], {
        cwd: root,
        env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig, DATABASE_URL: database.url, PORT: String(port), PGPULSE_NODE_ID: nodeId, NODE_APP_INSTANCE: '' },
      });
      const result = collect(child);
      const since = new Date(Date.now() - 60_000);
      try {
        await waitForOutput(result, /listening on http:\/\/localhost:\d+/, 60_000);
        const response = await fetch(`http://127.0.0.1:${port}/users/42?via=test`);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        if (file === 'express.ts') expect((await fetch(`http://127.0.0.1:${port}/pgpulse/api/recent`)).status).toBe(200);
      } finally {
        child.kill('SIGTERM'); // also when an expectation failed: never leave the example running
      }
      const done = await result;
      expect(done.code === 0 || done.signal === 'SIGTERM', done.stderr).toBe(true);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query(
          `select route, status_code from pgpulse.request_logs where path = '/users/42' and inserted_at > $1 and node_id = $2`,
          [since, nodeId],
        );
        expect(rows).toEqual([{ route, status_code: 200 }]);
        // The mounted dashboard's own requests are not recorded.
        const dashboard = await client.query(`select count(*)::int as n from pgpulse.request_logs where path like '/pgpulse%'`);
        expect(dashboard.rows[0].n).toBe(0);
      } finally {
        await client.end();
      }
    },
    90_000,
  );
});

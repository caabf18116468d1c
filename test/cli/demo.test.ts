import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { cliMain, collect, runCli, spawnCli, waitForOutput } from '../support/cli.js';
import { adminQuery, createTestDatabase, withDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/fixtures.js';

/** Postgres processes serving the given data directory (only ours, whatever else runs on the machine). */
const postgresProcessesFor = (dir: string): string[] => {
  try {
    return execFileSync('pgrep', ['-f', `bin/postgres -D ${dir}/`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};

async function countRows(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query('select count(*) as n from pgpulse.request_logs')).rows[0].n);
  } finally {
    await client.end();
  }
}

const embeddedLine = /embedded Postgres at (postgres:\/\/\S+) \(data in (\S+), deleted on exit\)/;
const stoppedLine = /stopped after (\d+) requests \((\d+) rows written/;

/** Demos still running when a test ends (it failed early): stopped cleanly, never left behind. */
const running = new Set<ChildProcess>();
function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

describe('pgpulse demo', () => {
  afterEach(async () => {
    await Promise.all(
      [...running].map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }),
    );
  });
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('documents its exit codes in --help', async () => {
    const help = await runCli(['demo', '--help']);
    expect(help.code).toBe(0);
    for (const code of ['0  stopped normally', '1  failure', '2  usage error', '3  --database-url unreachable']) expect(help.stdout).toContain(code);
  });

  it('rejects bad and unknown options with exit code 2, before starting anything', async () => {
    const results = await Promise.all([
      runCli(['demo', '--port', '4000.5']),
      runCli(['demo', '--port', '70000']),
      runCli(['demo', '--rate', 'fast']),
      runCli(['demo', '--duration', '-1']),
      runCli(['demo', '--bogus']),
      runCli(['demo', '--database-url', 'http://127.0.0.1/x']),
    ]);
    for (const result of results) expect(result.code, result.stderr).toBe(2);
    const [fraction, tooHigh, , , unknown, notPostgres] = results;
    expect(fraction.stderr).toMatch(/--port must be a whole number/);
    expect(tooHigh.stderr).toMatch(/--port must be a whole number 0–65535/);
    expect(unknown.stderr).toMatch(/Unknown option '--bogus'/);
    expect(notPostgres.stderr).toMatch(/not a postgres:\/\/ URL/);
    for (const result of results) expect(result.stdout).not.toMatch(/starting an embedded Postgres|dashboard at/);
  });

  it('exits 3 when the database is unreachable, refuses the login or does not exist', async () => {
    const serverUrl = inject('databaseUrl');
    const noRole = new URL(withDatabase(serverUrl, database.name));
    noRole.username = 'pgpulse_no_such_role';
    const [unreachable, missingDatabase, unknownRole] = await Promise.all([
      runCli(['demo', '--database-url', 'postgres://postgres@127.0.0.1:1/x']),
      runCli(['demo', '--database-url', withDatabase(serverUrl, 'pgpulse_no_such_database')]),
      runCli(['demo', '--database-url', noRole.toString()]),
    ]);
    expect(unreachable.code, unreachable.stderr).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/x/);
    expect(missingDatabase.code, missingDatabase.stderr).toBe(3);
    expect(missingDatabase.stderr).toMatch(/database "pgpulse_no_such_database" does not exist/);
    expect(unknownRole.code, unknownRole.stderr).toBe(3);
    expect(unknownRole.stderr).toMatch(/pgpulse_no_such_role/);
  });

  it('exits 1 when the database answers but refuses the schema (read-only), naming the cause', async () => {
    const readOnly = await createTestDatabase();
    try {
      await adminQuery(inject('databaseUrl'), `alter database ${readOnly.name} set default_transaction_read_only = on`);
      const result = await runCli(['demo', '--database-url', readOnly.url, '--port', '0']);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/read-only transaction/);
      expect(result.stdout).not.toMatch(/dashboard at/);
    } finally {
      await readOnly.drop();
    }
  });

  it('runs on a given database, serves live traffic and the dashboard, and exits 0 after --duration', async () => {
    const child = track(spawnCli(['demo', '--database-url', database.url, '--port', '0', '--duration', '6', '--rate', '30']));
    const result = collect(child);
    const [, url] = await waitForOutput(result, /dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/);
    let stats: { totals: { requests: number }; topRoutes: { route: string }[] } | undefined;
    await eventually(
      async () => {
        const to = Date.now();
        stats = await (await fetch(`${url}api/stats?from=${to - 60_000}&to=${to}`)).json();
        // The synthetic traffic picks routes at random: wait for its most common one rather than race the first 10 requests.
        return stats!.totals.requests > 10 && stats!.topRoutes.some((r: { route: string }) => r.route === '/products/:id');
      },
      20_000,
      'more than 10 requests in the stats, /products/:id among them',
    );
    if (!stats) throw new Error('no stats');
    expect(stats.totals.requests).toBeGreaterThan(10);
    expect(stats.topRoutes.map((r: { route: string }) => r.route)).toEqual(expect.arrayContaining(['/products/:id']));
    const done = await result;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(stoppedLine);
    expect(await countRows(database.url)).toBeGreaterThan(50);
  }, 60_000);

  it('on embedded Postgres with --duration 8: rows land in Postgres, then it exits 0 and leaves nothing behind', async () => {
    const child = track(spawnCli(['demo', '--port', '0', '--duration', '8', '--rate', '30', '--history', '5']));
    const result = collect(child);
    const [, url, dir] = await waitForOutput(result, embeddedLine, 120_000);
    // Rows land while it runs, read from its Postgres (its status line every few seconds may come once, before the
    // first write, on a loaded machine: '0 rows written (history still being written)').
    await eventually(async () => (await countRows(url!).catch(() => 0)) > 0, 30_000, 'rows in the demo Postgres');
    const done = await result;
    expect(done.stdout).toMatch(/requests served \(\d+\/s now; \d+ × 404, \d+ × 5xx\), \d+ rows written/);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/8 s elapsed; stopping/);
    const [, , written] = stoppedLine.exec(done.stdout)!;
    expect(Number(written)).toBeGreaterThan(50);
    expect(done.stdout).toMatch(/history written \(\d+ rows\)/);
    expect(done.stdout).toMatch(/rows written \+ [1-9]\d* rows of history\)/);
    expect(done.stdout).toContain('embedded Postgres stopped and its temp data deleted');
    expect(existsSync(dir!)).toBe(false);
    expect(postgresProcessesFor(dir!)).toEqual([]);
  }, 180_000);

  it('Ctrl-C in a terminal (SIGINT to the whole process group) flushes every row, exits 0 and leaves nothing behind', async () => {
    // detached = own process group, like a shell job: the signal reaches every process in it.
    const child = track(
      spawn(process.execPath, [cliMain, 'demo', '--port', '0', '--history', '0'], {
        detached: true,
        env: { ...process.env, DATABASE_URL: '', PGPULSE_TOKEN: '' },
      }),
    );
    const result = collect(child);
    const [, , dir] = await waitForOutput(result, embeddedLine, 120_000);
    await waitForOutput(result, /[1-9]\d* rows written to Postgres/, 30_000);
    const signalledAt = Date.now();
    process.kill(-child.pid!, 'SIGINT');
    // Under `npm run demo`, npm forwards the same Ctrl-C once more: still one clean stop.
    setTimeout(() => child.kill('SIGINT'), 50);
    const done = await result;
    expect(done.code, done.stderr).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(8_000);
    expect(done.stdout).toMatch(/SIGINT received; stopping/);
    expect(done.stderr).not.toMatch(/exiting without waiting/);
    const [, sent, written] = stoppedLine.exec(done.stdout)!;
    // Every answered request was captured and committed before Postgres stopped.
    expect(Number(written)).toBeGreaterThanOrEqual(Number(sent));
    expect(existsSync(dir!)).toBe(false);
    expect(postgresProcessesFor(dir!)).toEqual([]);
  }, 180_000);

  it('when the dashboard port is in use, says so and uses a free one; SIGTERM exits 0', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as AddressInfo).port;
    try {
      const child = track(spawnCli(['demo', '--port', String(busy)], { DATABASE_URL: database.url }));
      const result = collect(child);
      await waitForOutput(result, new RegExp(`port ${busy} is in use; serving the dashboard on a free port`));
      const [, url] = await waitForOutput(result, /dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/);
      expect(url).not.toContain(`:${busy}/`);
      expect((await fetch(url!)).status).toBe(200);
      child.kill('SIGTERM');
      const done = await result;
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toMatch(/SIGTERM received; stopping/);
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('when its embedded Postgres dies mid-run, says so, stops and exits 1, leaving nothing behind', async () => {
    const child = track(spawnCli(['demo', '--port', '0', '--history', '0', '--rate', '30']));
    const result = collect(child);
    const [, , dir] = await waitForOutput(result, embeddedLine, 120_000);
    await waitForOutput(result, /[1-9]\d* rows written to Postgres/, 30_000);
    const postmaster = postgresProcessesFor(dir!);
    expect(postmaster.length).toBeGreaterThan(0);
    for (const pid of postmaster) process.kill(Number(pid), 'SIGKILL');
    const done = await result;
    expect(done.code, done.stdout + done.stderr).toBe(1);
    expect(done.stderr).toMatch(/the embedded Postgres exited unexpectedly \(code null, signal SIGKILL\); stopping/);
    expect(done.stderr).toMatch(/pgpulse demo: failed: the embedded Postgres exited unexpectedly/);
    expect(existsSync(dir!)).toBe(false);
    expect(postgresProcessesFor(dir!)).toEqual([]);
  }, 180_000);

  it('when rows cannot be written before the stop (its database was dropped), SIGTERM exits 1 and says how many', async () => {
    const doomed = await createTestDatabase();
    try {
      const child = track(spawnCli(['demo', '--database-url', doomed.url, '--port', '0', '--rate', '30']));
      const result = collect(child);
      await waitForOutput(result, /dashboard at http/);
      await eventually(async () => (await countRows(doomed.url).catch(() => 0)) > 0, 30_000, 'the first rows of the demo');
      await doomed.drop();
      // Requests keep arriving (a progress line comes every 5 s); their rows have nowhere to go.
      const progressLines = () => result.output().match(/requests served/g)?.length ?? 0;
      const before = progressLines();
      await eventually(() => progressLines() > before, 30_000, 'a progress line after the database was dropped');
      child.kill('SIGTERM');
      const done = await result;
      expect(done.code, done.stdout + done.stderr).toBe(1);
      expect(done.stderr).toMatch(/not a clean stop: [1-9]\d* rows could not be written to Postgres before the stop/);
    } finally {
      await doomed.drop();
    }
  }, 120_000);
});

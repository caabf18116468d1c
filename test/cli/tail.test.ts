// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { spawnCli, spawnTail, type TailProcess } from '../bridge/fixtures/spawn-tail.js';
import { createMigratedTestDatabase, createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { requestLogColumnNames } from '../../src/schema/columns.js';

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

describe('pgpulse tail', () => {
  let database: TestDatabase;
  let unmigrated: TestDatabase;
  let pulse: Pulse;
  let tail: TailProcess | undefined;

  beforeAll(async () => {
    [database, unmigrated] = await Promise.all([createMigratedTestDatabase(), createTestDatabase()]);
    pulse = createPulse({ connectionString: database.url, nodeId: 'tail-test-writer', notify: true, maxWaitMs: 5 });
    await pulse.migrate();
  });

  afterAll(async () => {
    if (tail && tail.child.exitCode === null) tail.child.kill('SIGKILL');
    await pulse?.close();
    await database?.drop();
    await unmigrated?.drop();
  });

  it('prints help', async () => {
    const { code, stdout } = await run(['tail', '--help']);
    expect(code).toBe(exitCodes.ok);
    expect(stdout).toMatch(/Usage: pgpulse tail/);
    expect(stdout).toMatch(/--listen-database-url/);
  });

  it('names the problem: no database, bad --since, unreachable server, missing migrations', async () => {
    const none = await run(['tail']);
    expect(none.code).toBe(exitCodes.usage);
    const since = await run(['tail', '--database-url', database.url, '--since', 'yesterday-ish']);
    expect(since.code).toBe(exitCodes.usage);
    expect(since.stderr).toMatch(/--since is not a date/);
    const unreachable = await run(['tail', '--database-url', 'postgres://postgres@127.0.0.1:1/nowhere']);
    expect(unreachable.code).toBe(exitCodes.unreachable);
    expect(unreachable.stderr).toMatch(/cannot connect/);
    const missing = await run(['tail', '--database-url', unmigrated.url]);
    expect(missing.code).toBe(exitCodes.notMigrated);
    expect(missing.stderr).toMatch(/pgpulse migrate/);
  });

  it('streams committed rows as NDJSON and exits cleanly on SIGTERM', async () => {
    tail = spawnTail(['--database-url', database.url, '--listen-database-url', database.url]);
    await tail.listening;
    const logs = Array.from({ length: 25 }, (_, i) =>
      makeLog({ path: `/tail/${i}`, node_id: 'tail-test-writer', user_agent: i === 3 ? 'u'.repeat(20_000) : 'ua' }),
    );
    for (const log of logs) pulse.pubsub.broadcast(log);
    await pulse.flush();
    await eventually(() => tail!.rows.length === logs.length, 15_000, 'NDJSON rows');
    const printed = tail.rows.map((r) => r.row);
    expect(printed.map((r) => r.request_id).sort()).toEqual(logs.map((l) => l.request_id).sort());
    const first = printed.find((r) => r.request_id === logs[0]!.request_id)!;
    // Table columns in table order (the column list is in table order; test/store/columns.test.ts checks that).
    expect(Object.keys(first)).toEqual(['id', ...requestLogColumnNames]);
    expect(first).toMatchObject({ path: '/tail/0', node_id: 'tail-test-writer', inserted_at: logs[0]!.inserted_at.toISOString() });
    expect(typeof first.id).toBe('number');
    expect(printed.find((r) => r.path === '/tail/3')!.user_agent).toHaveLength(20_000);
    expect(tail.junk).toEqual([]);
    tail.child.kill('SIGTERM');
    expect(await tail.exited).toBe(0);
    expect(tail.stderr.join('\n')).toMatch(/stopped; delivered=25 .*\(SIGTERM\)/);
  });
});

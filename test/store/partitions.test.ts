// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { migrate, migrationsDir } from '../../src/store/migrate.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { runCli } from '../support/cli.js';
import { createMigratedTestDatabase, createTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import type { PulseDatabase } from '../../src/schema/database.js';

const DAY = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');

async function partitions(db: Kysely<PulseDatabase>): Promise<string[]> {
  const result = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'pgpulse.request_logs'::regclass order by 1`.execute(db);
  return result.rows.map((r) => r.name);
}

async function partitionOf(db: Kysely<PulseDatabase>, requestId: string): Promise<string> {
  const result = await sql<{ part: string }>`select tableoid::regclass::text as part from pgpulse.request_logs where request_id = ${requestId}`.execute(db);
  return result.rows[0]!.part;
}

describe('partitioned request_logs', () => {
  let database: TestDatabase;
  let pulse: Pulse;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url });
    await pulse.migrate();
  });
  afterAll(async () => {
    await pulse.close();
    await database.drop();
  });

  it('creates day partitions from yesterday to three days ahead, and rows land in theirs', async () => {
    const names = await partitions(pulse.db);
    const now = Date.now();
    for (let d = -1; d <= 3; d++) expect(names).toContain(`request_logs_p${utcDay(now + d * DAY)}`);
    expect(names).toContain('request_logs_default');
    pulse.pubsub.broadcast(makeLog({ request_id: 'today' }));
    await pulse.flush();
    expect(await partitionOf(pulse.db, 'today')).toBe(`pgpulse.request_logs_p${utcDay(Date.now())}`);
  });

  it('keeps far-future rows in the default partition until maintenance gives them a partition', async () => {
    const future = Date.now() + 40 * DAY;
    pulse.pubsub.broadcast(makeLog({ request_id: 'future', inserted_at: new Date(future) }));
    await pulse.flush();
    expect(await partitionOf(pulse.db, 'future')).toBe('pgpulse.request_logs_default');
    const result = await maintainPartitions(pulse.db);
    expect(result.created).toBeGreaterThanOrEqual(1);
    expect(await partitionOf(pulse.db, 'future')).toBe(`pgpulse.request_logs_p${utcDay(future)}`);
    const left = await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs_default`.execute(pulse.db);
    expect(Number(left.rows[0]!.n)).toBe(0);
  });

  it('retention drops whole old partitions only', async () => {
    const old = Date.now() - 20 * DAY;
    pulse.pubsub.broadcast(makeLog({ request_id: 'old', inserted_at: new Date(old) }));
    pulse.pubsub.broadcast(makeLog({ request_id: 'recent', inserted_at: new Date(Date.now() - 2 * DAY) }));
    await pulse.flush();
    await maintainPartitions(pulse.db);
    expect(await partitions(pulse.db)).toContain(`request_logs_p${utcDay(old)}`);
    const result = await maintainPartitions(pulse.db, { retentionDays: 10 });
    expect(result.dropped).toBe(1);
    expect(await partitions(pulse.db)).not.toContain(`request_logs_p${utcDay(old)}`);
    const ids = await sql<{ request_id: string }>`select request_id from pgpulse.request_logs order by request_id`.execute(pulse.db);
    expect(ids.rows.map((r) => r.request_id)).toEqual(['future', 'recent', 'today']);
    await expect(maintainPartitions(pulse.db, { retentionDays: 0 })).rejects.toThrow(/retentionDays/);
  });

  it('maintenance from several nodes at once is safe', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => maintainPartitions(pulse.db, { daysAhead: 10 })));
    expect(results.reduce((a, r) => a + r.created, 0)).toBe(7);
  });

  it('pgpulse maintain applies retention from the command line', async () => {
    const help = await runCli(['maintain', '--help']);
    expect(help.code).toBe(0);
    const run = await runCli(['maintain', '--database-url', database.url, '--retention-days', '1', '--days-ahead', '5']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/partition\(s\) created, 1 dropped/);
    expect((await runCli(['maintain', '--database-url', database.url, '--retention-days', 'x'])).code).toBe(2);
  });
});

describe('migrating the unpartitioned 0001 layout', () => {
  it('keeps every row and id, and new ids continue after them', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool }) });
    const onlyFirst = await mkdtemp(join(tmpdir(), 'pgpulse-0001-'));
    try {
      await copyFile(join(migrationsDir, '0001_request_logs.sql'), join(onlyFirst, '0001_request_logs.sql'));
      await migrate(db, onlyFirst);
      const spread = [-45, -3, 0, 12].map((d) => new Date(Date.now() + d * DAY));
      for (const [i, at] of spread.entries()) {
        await sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id, inserted_at)
                  values (${`legacy-${i}`}, 'GET', '/legacy', 200, 1.5, 'desktop', 'old-node', ${at})`.execute(db);
      }
      const before = await sql<{
        id: string;
        request_id: string;
        inserted_at: Date;
      }>`select id, request_id, inserted_at from pgpulse.request_logs order by id`.execute(db);
      const result = await migrate(db);
      expect(result.applied.slice(0, 3)).toEqual(['0002_partition_request_logs.sql', '0003_rollups.sql', '0004_partition_attach.sql']);
      expect(result.applied).toContain('0007_rollup_shards.sql');
      const rolled = await sql<{ n: number }>`select sum(requests)::int as n from pgpulse.rollups where grain = 'hour' and route = chr(1) || 'all'`.execute(db);
      expect(rolled.rows[0]!.n).toBe(4);
      const after = await sql<{
        id: string;
        request_id: string;
        inserted_at: Date;
      }>`select id, request_id, inserted_at from pgpulse.request_logs order by id`.execute(db);
      expect(after.rows).toEqual(before.rows);
      const pulse = createPulse({ db });
      pulse.pubsub.broadcast(makeLog({ request_id: 'new' }));
      await pulse.close();
      const fresh = await sql<{ id: string }>`select id from pgpulse.request_logs where request_id = 'new'`.execute(db);
      expect(Number(fresh.rows[0]!.id)).toBeGreaterThan(Math.max(...before.rows.map((r) => Number(r.id))));
      expect(await partitions(db)).toContain(`request_logs_p${utcDay(spread[0]!.getTime())}`);
      expect(await migrate(db)).toMatchObject({ applied: [] });
    } finally {
      await db.destroy();
      await rm(onlyFirst, { recursive: true, force: true });
      await database.drop();
    }
  });
});

// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { test, type MigratedDatabase } from '../support/migrated-database.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { eventually } from '../support/fixtures.js';

/** A reader that keeps its transaction open, holding ACCESS SHARE on the parent and every partition. */
async function openReader(url: string): Promise<pg.Client> {
  const reader = new pg.Client({ connectionString: url });
  await reader.connect();
  await reader.query('begin');
  await reader.query('select count(*) from pgpulse.request_logs where id = -1');
  return reader;
}

describe('creating partitions next to a busy app', () => {
  let database: MigratedDatabase;
  let db: Kysely<PulseDatabase>;

  test.beforeAll(async ({ database: migrated }) => {
    database = migrated;
    db = migrated.db;
    await maintainPartitions(db);
  });

  it('never queues inserts behind a partition waiting for an open reader', async () => {
    const reader = await openReader(database.url);
    try {
      const maintenance = maintainPartitions(db, { daysAhead: 6 });
      await eventually(async () => (await lockWaiters(db)) === 1, 10_000, 'the lock waiter');
      // The partition DDL is waiting for the reader; an insert for today must not wait for it.
      await sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id)
                values ('during-maintenance', 'GET', '/', 200, 1, 'desktop', 'test')`.execute(db);
      expect(await lockWaiters(db)).toBe(1);
      await reader.query('commit');
      expect((await maintenance).created).toBe(3);
    } finally {
      await reader.end();
    }
    const row = await sql<{ part: string }>`select tableoid::regclass::text as part from pgpulse.request_logs where request_id = 'during-maintenance'`.execute(
      db,
    );
    expect(row.rows[0]!.part).toMatch(/^pgpulse\.request_logs_p\d{8}$/);
  });

  it('gives up after the lock timeout instead of waiting forever (retried at the next run)', async () => {
    const reader = await openReader(database.url);
    try {
      await expect(maintainPartitions(db, { daysAhead: 8 })).rejects.toThrow(/lock timeout/);
    } finally {
      await reader.end();
    }
    expect((await maintainPartitions(db, { daysAhead: 8 })).created).toBe(2);
  }, 20_000);

  it('pulse.migrate() still resolves when a partition cannot get its lock in time; the next run makes it', async () => {
    await sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id, inserted_at)
              values ('far-future', 'GET', '/', 200, 1, 'desktop', 'test', now() + interval '40 days')`.execute(db);
    const pulse = createPulse({ db, maintenanceIntervalMs: 0 });
    try {
      const reader = await openReader(database.url);
      try {
        await expect(pulse.migrate()).resolves.toMatchObject({ applied: [] });
        expect(pulse.stats.maintenanceErrors).toBe(1);
      } finally {
        await reader.end();
      }
      expect((await pulse.maintain()).created).toBe(1);
      const row = await sql<{ part: string }>`select tableoid::regclass::text as part from pgpulse.request_logs where request_id = 'far-future'`.execute(db);
      expect(row.rows[0]!.part).not.toBe('pgpulse.request_logs_default');
    } finally {
      await pulse.close();
    }
  }, 20_000);

  it('attached partitions have the parent indexes, defaults and checks', async () => {
    const indexes = await sql<{ indexdef: string }>`
      select indexdef from pg_indexes where schemaname = 'pgpulse' and tablename = ${`request_logs_p${new Date(Date.now() + 8 * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '')}`} order by 1`.execute(
      db,
    );
    const defs = indexes.rows.map((r) => `${r.indexdef.startsWith('CREATE UNIQUE') ? 'unique ' : ''}${r.indexdef.replace(/^.* USING /, '')}`).sort();
    // 0007 dropped (route, inserted_at): route-filtered long ranges read hour rollups. 0006 added the partial GIN index of attributes.
    expect(defs).toEqual([
      'btree (inserted_at)',
      'btree (path, inserted_at)',
      'btree (tx_id)',
      'gin (attributes jsonb_path_ops) WHERE (attributes IS NOT NULL)',
      'unique btree (id, inserted_at)',
    ]);
    await expect(
      sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id, inserted_at)
          values ('bad', 'GET', '/', 200, 1, 'toaster', 'test', now() + interval '8 days')`.execute(db),
    ).rejects.toThrow(/check constraint/);
  });
});

// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PulseDatabase } from '../../src/store/database.js';
import { migrate, pendingMigrations } from '../../src/store/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

function open(url: string): Kysely<PulseDatabase> {
  return new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
}

describe('migrate', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('is safe when several processes migrate at once, and idempotent', async () => {
    const dbs = Array.from({ length: 5 }, () => open(database.url));
    try {
      expect(await pendingMigrations(dbs[0]!)).toContain('0001_request_logs.sql');
      const results = await Promise.all(dbs.map((db) => migrate(db)));
      const appliedCounts = results.map((r) => r.applied.length);
      expect(appliedCounts.filter((n) => n > 0)).toHaveLength(1);
      expect(await pendingMigrations(dbs[0]!)).toEqual([]);
      const again = await migrate(dbs[0]!);
      expect(again.applied).toEqual([]);
      const table = await sql<{
        n: string;
      }>`select count(*) as n from information_schema.columns where table_schema = 'pgpulse' and table_name = 'request_logs'`.execute(dbs[0]!);
      expect(Number(table.rows[0]!.n)).toBeGreaterThanOrEqual(16);
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });

  it('reports a failing migration with a precise error', async () => {
    const db = open(database.url);
    try {
      const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const dir = await mkdtemp(join(tmpdir(), 'pgpulse-mig-'));
      await writeFile(join(dir, '9999_bad.sql'), 'select * from no_such_table;');
      await expect(migrate(db, dir)).rejects.toThrow(/pgpulse migration failed: .*no_such_table/);
      await rm(dir, { recursive: true });
    } finally {
      await db.destroy();
    }
  });
});

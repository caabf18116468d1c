import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { connect } from '../../src/store/connection.js';
import { insertBatch } from '../../src/store/insert-batch.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { buildPathIndexes } from '../../src/store/path-index.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

describe('path index (migration 0021)', () => {
  test('partitions created before it get it built concurrently and attached; new ones have it; a path filter reads it', async ({ database }) => {
    const { db } = database;
    await insertBatch(db, [makeLog({ path: '/old', inserted_at: new Date('2001-01-01T00:00:00Z') })]); // the default partition predates 0021
    await maintainPartitions(db); // creates today's partitions: they get the index with the table
    const valid = () =>
      sql<{ valid: boolean }>`select indisvalid as valid from pg_index where indexrelid = 'pgpulse.request_logs_path_idx'::regclass`.execute(db);
    expect((await valid()).rows[0]!.valid).toBe(false);
    // CONCURRENTLY needs its own connection outside any transaction.
    const single = connect({ connectionString: database.url, poolSize: 1 }, () => {});
    try {
      expect(await buildPathIndexes(single.db)).toBeGreaterThanOrEqual(1);
      expect(await buildPathIndexes(single.db)).toBe(0);
    } finally {
      await single.close();
    }
    expect((await valid()).rows[0]!.valid).toBe(true);
    await insertBatch(db, [makeLog({ path: '/new' })]);
    await sql`analyze pgpulse.request_logs`.execute(db);
    const plan = await db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      return sql<{ 'QUERY PLAN': string }>`explain select count(*) from pgpulse.request_logs
        where path = '/new' and inserted_at >= now() - interval '1 day'`.execute(trx);
    });
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/path_idx/);
  });
});

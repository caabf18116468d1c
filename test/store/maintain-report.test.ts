import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { test } from '../support/migrated-database.js';

describe('maintain reports what it deleted', () => {
  test('a 5-day-old row in the default partition, retention 3 days: deleted and reported', async ({ database }) => {
    const { db } = database;
    await sql`insert into pgpulse.request_logs_default (request_id, method, path, status_code, duration_ms, device_type, node_id, inserted_at)
      values ('old', 'GET', '/old', 200, 1, 'desktop', 'n', now() - interval '5 days')`.execute(db);
    await sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id) values ('recent', 'GET', '/recent', 200, 1, 'desktop', 'n')`.execute(
      db,
    );
    const result = await maintainPartitions(db, { retentionDays: 3 });
    expect(result.deletedDefaultRows).toBe(1);
    const left = await sql<{ request_id: string }>`select request_id from pgpulse.request_logs order by request_id`.execute(db);
    expect(left.rows.map((r) => r.request_id)).toEqual(['recent']);
    // Nothing more to delete on the next run.
    expect((await maintainPartitions(db, { retentionDays: 3 })).deletedDefaultRows).toBe(0);
  });
});

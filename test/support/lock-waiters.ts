import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../../src/schema/database.js';

/** Backends of this database currently waiting for a heavyweight lock. */
export async function lockWaiters(db: Kysely<PulseDatabase>): Promise<number> {
  const result = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
  return result.rows[0]!.n;
}

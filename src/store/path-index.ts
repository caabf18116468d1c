import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { isLockTimeout } from './maintain-partitions.js';

/** Partitions whose index of `pgpulse.request_logs_path_idx` (migration 0021) is missing or not attached yet. */
async function missing(db: Kysely<PulseDatabase>): Promise<string[]> {
  const result = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'pgpulse.request_logs'::regclass
      and to_regclass('pgpulse.request_logs_path_idx') is not null
      and not exists (
        select 1 from pg_inherits ii join pg_index x on x.indexrelid = ii.inhrelid
        where ii.inhparent = 'pgpulse.request_logs_path_idx'::regclass and x.indrelid = c.oid)
    order by c.relname desc`.execute(db);
  return result.rows.map((r) => r.name);
}

/**
 * Builds the path index of existing partitions (newest first, at most `limit`
 * per call) with CREATE INDEX CONCURRENTLY, which never blocks writers, and
 * attaches each to the parent index; a build that failed halfway (an invalid
 * index) is dropped and redone. `db` must be a single connection outside any
 * transaction (CONCURRENTLY cannot run in one). Waits at most `lockTimeoutMs`
 * for other transactions; a partition that times out is retried next call.
 * Answers the partitions done.
 */
export async function buildPathIndexes(db: Kysely<PulseDatabase>, options: { limit?: number; lockTimeoutMs?: number } = {}): Promise<number> {
  const partitions = (await missing(db)).slice(0, options.limit ?? 7);
  let done = 0;
  await sql`select set_config('lock_timeout', ${String(options.lockTimeoutMs ?? 5_000)}, false)`.execute(db);
  try {
    for (const partition of partitions) {
      const index = `${partition.slice(0, 50)}_path_idx`;
      const existing = await sql<{ valid: boolean }>`
        select x.indisvalid as valid from pg_index x join pg_class c on c.oid = x.indexrelid
        join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'pgpulse' and c.relname = ${index}`.execute(db);
      try {
        if (existing.rows[0] && !existing.rows[0].valid) await sql`drop index concurrently if exists ${sql.table(`pgpulse.${index}`)}`.execute(db);
        await sql`create index concurrently if not exists ${sql.id(index)} on ${sql.table(`pgpulse.${partition}`)} (path, inserted_at)`.execute(db);
        await sql`alter index pgpulse.request_logs_path_idx attach partition ${sql.table(`pgpulse.${index}`)}`.execute(db);
        done++;
      } catch (error) {
        if (!isLockTimeout(error)) throw error; // a long transaction on the partition: next call
      }
    }
  } finally {
    await sql`select set_config('lock_timeout', '0', false)`.execute(db);
  }
  return done;
}

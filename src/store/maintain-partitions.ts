import { sql, type Kysely, type RawBuilder } from 'kysely';
import { DAY_MS, utcDay } from '../shared/time.js';
import type { PulseDatabase } from '../schema/database.js';
import { z } from 'zod';
import { parseOptions } from '../shared/option-schema.js';

export interface PartitionMaintenanceOptions {
  /** Daily partitions created ahead of today (UTC). Default 3 days. */
  daysAhead?: number;
  /**
   * Drop day partitions older than this many days (whole partitions, no
   * row-by-row delete). Default: keep everything.
   */
  retentionDays?: number;
}

/** {@link PartitionMaintenanceOptions} with the default `daysAhead`. */
const maintenanceOptionsSchema = z.object({
  daysAhead: z.number({ error: 'must be an integer from 0 to 365' }).int().min(0).max(365).default(3),
  retentionDays: z.number({ error: 'must be a whole number of days ≥ 1' }).int().min(1).optional(),
});

export interface PartitionMaintenanceResult {
  /** Partitions created (ahead, or for rows found in the default partition). */
  created: number;
  /** Old partitions dropped by retention. */
  dropped: number;
  /** Rows older than the retention deleted from the default partition (rows that had no day partition of their own). */
  deletedDefaultRows: number;
}

/**
 * Creates the daily partitions of `pgpulse.request_logs` from yesterday to
 * `daysAhead` days ahead, gives rows that landed in the default partition a
 * partition of their own, and applies retention (to rows and rollups). Safe to run from several
 * nodes at once (advisory lock in SQL) and as often as you like.
 */
export async function maintainPartitions(db: Kysely<PulseDatabase>, options: PartitionMaintenanceOptions = {}): Promise<PartitionMaintenanceResult> {
  const { daysAhead, retentionDays } = parseOptions('pgpulse', maintenanceOptionsSchema, options);
  const today = utcDay();
  let created = 0;
  const ahead = await sql<{ created: boolean }>`
    select pgpulse.ensure_partition(d::date) as created
    from generate_series(${today}::date - 1, ${today}::date + ${daysAhead}::int, interval '1 day') d`.execute(db);
  created += ahead.rows.filter((r) => r.created).length;
  const stranded = await sql<{ day: string }>`
    select distinct to_char((inserted_at at time zone 'UTC')::date, 'YYYY-MM-DD') as day from pgpulse.request_logs_default`.execute(db);
  for (const { day } of stranded.rows) {
    if (retentionDays !== undefined && Date.parse(day) < Date.parse(today) - retentionDays * DAY_MS) continue;
    const result = await sql<{ created: boolean }>`select pgpulse.ensure_partition(${day}::date) as created`.execute(db);
    if (result.rows[0]?.created) created++;
  }
  let dropped = 0;
  let deletedDefaultRows = 0;
  if (retentionDays !== undefined) {
    // drop_partitions_before deletes these too but only counts partitions: delete (and count) them first.
    const deleted =
      await sql`delete from pgpulse.request_logs_default where inserted_at < (${today}::date - ${retentionDays}::int)::timestamp at time zone 'UTC'`.execute(
        db,
      );
    deletedDefaultRows = Number(deleted.numAffectedRows ?? 0);
    const result = await sql<{ dropped: number }>`select pgpulse.drop_partitions_before(${today}::date - ${retentionDays}::int) as dropped`.execute(db);
    dropped = result.rows[0]?.dropped ?? 0;
    const cutoff = sql`(${today}::date - ${retentionDays}::int)::timestamp at time zone 'UTC'`;
    await sql`delete from pgpulse.rollups where bucket < ${cutoff}`.execute(db);
    await sql`delete from pgpulse.visitor_sketches where bucket < ${cutoff}`.execute(db);
    await sql`delete from pgpulse.dimension_rollups where bucket < ${cutoff}`.execute(db);
    for (const table of ['cube_cells', 'cube_top_keys', 'consumer_cells', 'cube_buckets'] as const) {
      await sql`delete from ${sql.table(`pgpulse.${table}`)} where bucket < ${cutoff}`.execute(db);
    }
    await retainErrors(db, cutoff);
  }
  return { created, dropped, deletedDefaultRows };
}

/** Retention of grouped errors: their counts before `cutoff`, then the groups left without any (so an error seen again is new again). */
async function retainErrors(db: Kysely<PulseDatabase>, cutoff: RawBuilder<unknown>): Promise<void> {
  await sql`delete from pgpulse.error_rollups where bucket < ${cutoff}`.execute(db);
  await sql`
    delete from pgpulse.error_groups g
    where g.first_seen < ${cutoff} and not exists (select 1 from pgpulse.error_rollups r where r.fingerprint = g.fingerprint)`.execute(db);
}

/**
 * Whether maintenance failed only because a partition could not get its lock
 * within the 5 s lock_timeout (SQLSTATE 55P03, e.g. behind a long reader). Such a
 * run is harmless to skip: rows land in the default partition meanwhile and the
 * next run moves them.
 */
export function isLockTimeout(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === '55P03') return true;
  }
  return false;
}

import { sql } from 'kysely';
import { DAY_MS, HOUR_MS } from '../shared/time.js';
import { asPulseDatabase } from './connection.js';
import type { AnySchemaKysely } from '../schema/database.js';
import { buildCubeRange } from './cube-builder.js';
import { z } from 'zod';
import { parseOptions } from '../shared/option-schema.js';

export interface RebuildRollupsOptions {
  /** Start of the range to rebuild (rounded down to the hour, UTC). Default: the earliest raw row or rollup. */
  from?: Date;
  /** End of the range to rebuild (rounded up to the hour, UTC). Default: just after the latest raw row or rollup. */
  to?: Date;
  /** Called after each rebuilt chunk (one UTC day at most), e.g. for progress output. */
  onChunk?: (chunk: { from: Date; to: Date }) => void;
}

/** The range of {@link RebuildRollupsOptions}: valid dates, or none for the extent of the data. */
const rangeSchema = z.object({
  from: z.date({ error: 'is not a valid date' }).optional(),
  to: z.date({ error: 'is not a valid date' }).optional(),
});

export interface RebuildRollupsResult {
  /** Rebuilt range, whole hours; null when there was nothing to rebuild. */
  from: Date | null;
  to: Date | null;
  /** Transactions used (one per day at most). */
  chunks: number;
}

/**
 * Recomputes the minute and hour rollups, dimension rollups, visitor sketches and the request cube of a range from
 * the raw rows (`pgpulse.rebuild_rollups`), e.g. after rows were deleted or
 * truncated by hand. The range is widened to whole hours, so no bucket is
 * left half rebuilt. Each day is rebuilt in its own transaction that locks the
 * rollup tables against writes (SHARE ROW EXCLUSIVE): writers wait for that
 * day's rebuild (their rows stay buffered) instead of adding rows that the
 * rebuild also counts, so the rollups stay exact.
 */
export async function rebuildRollups(anyDb: AnySchemaKysely, options: RebuildRollupsOptions = {}): Promise<RebuildRollupsResult> {
  const db = asPulseDatabase(anyDb);
  const range = parseOptions('pgpulse rebuildRollups', rangeSchema, options);
  let from = range.from?.getTime();
  let to = range.to?.getTime();
  if (from === undefined || to === undefined) {
    const extent = await sql<{ lo: Date | null; hi: Date | null }>`
      select least((select min(bucket) from pgpulse.rollups), (select min(inserted_at) from pgpulse.request_logs)) as lo,
             greatest((select max(bucket) from pgpulse.rollups), (select max(inserted_at) from pgpulse.request_logs)) as hi`.execute(db);
    const { lo, hi } = extent.rows[0] ?? { lo: null, hi: null };
    if (!lo || !hi) return { from: null, to: null, chunks: 0 };
    from ??= lo.getTime();
    to ??= hi.getTime() + 1;
  }
  const start = Math.floor(from / HOUR_MS) * HOUR_MS;
  const end = Math.ceil(to / HOUR_MS) * HOUR_MS;
  if (end <= start) throw new RangeError(`pgpulse rebuildRollups: from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  let chunks = 0;
  for (let lo = start; lo < end; lo = Math.min(end, Math.floor(lo / DAY_MS) * DAY_MS + DAY_MS)) {
    const hi = Math.min(end, Math.floor(lo / DAY_MS) * DAY_MS + DAY_MS);
    await db.transaction().execute(async (trx) => {
      await sql`lock table pgpulse.rollups, pgpulse.visitor_sketches, pgpulse.dimension_rollups in share row exclusive mode`.execute(trx);
      await sql`select pgpulse.rebuild_rollups(${new Date(lo)}::timestamptz, ${new Date(hi)}::timestamptz)`.execute(trx);
    });
    // The request cube of the same hours (and of the day, when whole), from the same rows.
    await buildCubeRange(db, new Date(lo), new Date(hi), { day: lo % DAY_MS === 0 && hi - lo === DAY_MS && hi <= Date.now() });
    chunks++;
    options.onChunk?.({ from: new Date(lo), to: new Date(hi) });
  }
  return { from: new Date(start), to: new Date(end), chunks };
}

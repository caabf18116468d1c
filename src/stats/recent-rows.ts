import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { PUBLIC_ROW_SQL, toPublicRow, type PublicRow } from '../schema/public-row.js';
import { filterCondition } from './stats-filters.js';
import type { LiveParams } from './stats-params.js';

/** A stored row as sent to browsers (never the raw IP). */
export type RecentRow = PublicRow;

/**
 * The newest rows matching the filters (at or after `from` when given), for
 * the live table's first paint: the `inserted_at` index read backwards, the
 * filters (the same SQL as the stats') checked on the way; a path filter reads
 * the path index. Read-only, cancelled by Postgres after `timeoutMs` (a
 * rare filter over a long history reads many rows before it has `limit`).
 */
export async function recentRows(db: Kysely<PulseDatabase>, params: LiveParams, timeoutMs = 15_000): Promise<RecentRow[]> {
  const from = params.from === undefined ? sql`true` : sql`inserted_at >= ${params.from}`;
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    const result = await sql<Record<string, unknown>>`
      select ${PUBLIC_ROW_SQL} from pgpulse.request_logs where ${from} and ${filterCondition(params)}
      order by inserted_at desc, id desc limit ${params.limit}`.execute(trx);
    return result.rows.map(toPublicRow);
  });
}

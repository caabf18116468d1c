import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from './database.js';
import { PUBLIC_ROW_SQL, toPublicRow, type PublicRow } from './public-row.js';

/** Most rows `GET /api/recent` returns. */
export const MAX_RECENT_ROWS = 200;

/** A stored row as sent to browsers (never the raw IP). */
export type RecentRow = PublicRow;

/** Newest rows, for the live table's first paint. Uses the `inserted_at` index. */
export async function recentRows(db: Kysely<PulseDatabase>, limit: number): Promise<RecentRow[]> {
  const result = await sql<Record<string, unknown>>`
    select ${PUBLIC_ROW_SQL} from pgpulse.request_logs order by inserted_at desc, id desc limit ${limit}`.execute(db);
  return result.rows.map(toPublicRow);
}

/** The `limit` query parameter, clamped to 1…{@link MAX_RECENT_ROWS}; default 50. */
export function recentLimit(value: string | null): number {
  const n = Number(value ?? 50);
  return Number.isInteger(n) ? Math.min(MAX_RECENT_ROWS, Math.max(1, n)) : 50;
}

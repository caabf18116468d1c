import { sql, type Kysely } from 'kysely';
import { fromDatabase, requestLogColumnNames, requestLogColumns } from './columns.js';
import type { PulseDatabase } from './database.js';

/** Columns browsers may see: all but the private ones (the raw IP). */
const publicColumnNames = requestLogColumnNames.filter((name) => !('private' in requestLogColumns[name]));
const PUBLIC_COLUMNS = sql.join(publicColumnNames.map((name) => sql.ref(name)));

/** Most rows `GET /api/recent` returns. */
export const MAX_RECENT_ROWS = 200;

/** A stored row as sent to browsers (never the raw IP). */
export type RecentRow = Record<string, unknown> & { id: number };

/** Newest rows, for the live table's first paint. Uses the `inserted_at` index. */
export async function recentRows(db: Kysely<PulseDatabase>, limit: number): Promise<RecentRow[]> {
  const result = await sql<Record<string, unknown>>`
    select id, ${PUBLIC_COLUMNS} from pgpulse.request_logs order by inserted_at desc, id desc limit ${limit}`.execute(db);
  return result.rows.map((r) => {
    const row: RecentRow = { id: Number(r.id) };
    for (const name of publicColumnNames) row[name] = fromDatabase(name, r[name]);
    return row;
  });
}

/** The `limit` query parameter, clamped to 1…{@link MAX_RECENT_ROWS}; default 50. */
export function recentLimit(value: string | null): number {
  const n = Number(value ?? 50);
  return Number.isInteger(n) ? Math.min(MAX_RECENT_ROWS, Math.max(1, n)) : 50;
}

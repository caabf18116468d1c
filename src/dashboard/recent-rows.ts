import { sql, type Kysely } from 'kysely';

/** Most rows `GET /api/recent` returns. */
export const MAX_RECENT_ROWS = 200;

/** A stored row as sent to browsers (never the raw IP). */
export type RecentRow = Record<string, unknown> & { id: number };

/** Newest rows, for the live table's first paint. Uses the `inserted_at` index. */
export async function recentRows(db: Kysely<any>, limit: number): Promise<RecentRow[]> {
  const result = await sql<Record<string, unknown>>`
    select id, request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent, referer,
      device_type, visitor_id, session_id, node_id, inserted_at
    from pgpulse.request_logs order by inserted_at desc, id desc limit ${limit}`.execute(db);
  return result.rows.map((r) => ({ ...r, id: Number(r.id), response_bytes: r.response_bytes === null ? null : Number(r.response_bytes) }));
}

/** The `limit` query parameter, clamped to 1…{@link MAX_RECENT_ROWS}; default 50. */
export function recentLimit(value: string | null): number {
  const n = Number(value ?? 50);
  return Number.isInteger(n) ? Math.min(MAX_RECENT_ROWS, Math.max(1, n)) : 50;
}

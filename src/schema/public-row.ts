import { sql } from 'kysely';
import { fromDatabase, requestLogColumnNames, requestLogColumns, type RequestLogColumnName } from './columns.js';

/** Columns browsers and exports may see, in table order: all but the private ones (the raw IP). */
export const publicColumnNames: readonly RequestLogColumnName[] = requestLogColumnNames.filter((name) => !('private' in requestLogColumns[name]));

/** `id` and the public columns, as a select list. */
export const PUBLIC_ROW_SQL = sql.join([sql.ref('id'), ...publicColumnNames.map((name) => sql.ref(name))]);

/** A stored row as sent to browsers and exports (never the raw IP): int8 as numbers, jsonb as objects. */
export type PublicRow = Record<string, unknown> & { id: number };

/** Converts a row selected with {@link PUBLIC_ROW_SQL} as node-postgres read it. */
export function toPublicRow(r: Record<string, unknown>): PublicRow {
  const row: PublicRow = { id: Number(r.id) };
  for (const name of publicColumnNames) row[name] = fromDatabase(name, r[name]);
  return row;
}

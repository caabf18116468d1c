import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { sql, type Kysely } from 'kysely';
import type { StatsParams } from '../stats/stats-params.js';
import { filterCondition } from '../stats/stats-filters.js';
import type { PulseDatabase } from '../store/database.js';

/** Formats `GET /api/export` writes. */
export const exportFormats = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** Columns exported, in order: a stored row without the raw IP (never sent to browsers). */
export const EXPORT_COLUMNS = [
  'id',
  'request_id',
  'inserted_at',
  'method',
  'path',
  'route',
  'status_code',
  'duration_ms',
  'response_bytes',
  'user_agent',
  'referer',
  'device_type',
  'visitor_id',
  'session_id',
  'node_id',
] as const;

/** Rows fetched from the cursor per round trip. */
export const EXPORT_FETCH_ROWS = 2_000;

export interface ExportOptions {
  /** Longest one FETCH may run before Postgres cancels it, in ms. */
  timeoutMs: number;
  /** Aborted when the client went away: the cursor is closed and the transaction ends. */
  signal: AbortSignal;
}

/**
 * Streams the rows of the range and filters to `res`, oldest first, from a
 * server-side cursor (`DECLARE … NO SCROLL CURSOR`, then `FETCH` of
 * {@link EXPORT_FETCH_ROWS} rows at a time) in a read-only transaction:
 * memory stays flat whatever the row count, it works with any Kysely on `pg`
 * (no driver-specific cursor class), and each chunk waits for the socket to
 * drain before the next FETCH. Returns the number of rows written.
 */
export async function exportRows(
  db: Kysely<PulseDatabase>,
  params: StatsParams,
  format: ExportFormat,
  res: ServerResponse,
  options: ExportOptions,
): Promise<number> {
  let rows = 0;
  await db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(options.timeoutMs)}, true)`.execute(trx);
    await sql`declare pgpulse_export no scroll cursor for
      select ${sql.join(EXPORT_COLUMNS.map((c) => sql.ref(c)))} from pgpulse.request_logs
      where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}
      order by inserted_at, id`.execute(trx);
    if (format === 'csv') await write(res, `${EXPORT_COLUMNS.join(',')}\r\n`);
    while (!options.signal.aborted) {
      const batch = await sql<Record<string, unknown>>`fetch ${sql.raw(String(EXPORT_FETCH_ROWS))} from pgpulse_export`.execute(trx);
      if (batch.rows.length === 0) break;
      let chunk = '';
      for (const row of batch.rows) chunk += format === 'csv' ? csvLine(row) : `${JSON.stringify(jsonRow(row))}\n`;
      rows += batch.rows.length;
      if (!(await write(res, chunk))) break;
    }
    await sql`close pgpulse_export`.execute(trx);
  });
  return rows;
}

/** Writes and waits for `drain` when the socket buffer is full; false when the client went away. */
async function write(res: ServerResponse, chunk: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
  return !res.destroyed;
}

function jsonRow(row: Record<string, unknown>): Record<string, unknown> {
  return { ...row, id: Number(row.id), response_bytes: row.response_bytes === null ? null : Number(row.response_bytes) };
}

/** One CSV record (RFC 4180). Text cells starting with = + - @ get a leading `'` so spreadsheets never run them as formulas. */
export function csvLine(row: Record<string, unknown>): string {
  let line = '';
  for (let i = 0; i < EXPORT_COLUMNS.length; i++) {
    if (i > 0) line += ',';
    line += csvCell(row[EXPORT_COLUMNS[i]!]);
  }
  return `${line}\r\n`;
}

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

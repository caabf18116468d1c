import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { EXPORT_COLUMNS, forEachExportBatch, type ExportOptions } from '../stats/export-query.js';
import type { StatsParams } from '../stats/stats-params.js';
import type { PulseDatabase } from '../schema/database.js';
import { csvCell } from './csv-cell.js';

export { EXPORT_COLUMNS, EXPORT_FETCH_ROWS, type ExportOptions } from '../stats/export-query.js';
export { csvCell } from './csv-cell.js';

/** Formats `GET /api/export` writes. */
export const exportFormats = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof exportFormats)[number];

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
  await forEachExportBatch(db, params, options, {
    opened: async () => {
      if (format === 'csv') await write(res, `${EXPORT_COLUMNS.join(',')}\r\n`);
    },
    batch: (batch) => {
      let chunk = '';
      for (const row of batch) chunk += format === 'csv' ? csvLine(row) : `${JSON.stringify(row)}\n`;
      rows += batch.length;
      return write(res, chunk);
    },
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

/** One CSV record (RFC 4180), cells by {@link csvCell}: formula-like text is prefixed with `'`. */
export function csvLine(row: Record<string, unknown>): string {
  let line = '';
  for (let i = 0; i < EXPORT_COLUMNS.length; i++) {
    if (i > 0) line += ',';
    line += csvCell(row[EXPORT_COLUMNS[i]!]);
  }
  return `${line}\r\n`;
}

import { sql, type Kysely } from 'kysely';
import { filterCondition } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';
import type { PulseDatabase } from '../schema/database.js';
import { PUBLIC_ROW_SQL, publicColumnNames, toPublicRow, type PublicRow } from '../schema/public-row.js';

/** Columns exported, in order: `id`, then every public column of a stored row in table order (never the raw IP). */
export const EXPORT_COLUMNS: readonly string[] = ['id', ...publicColumnNames];

/** Rows fetched from the cursor per round trip. */
export const EXPORT_FETCH_ROWS = 2_000;

export interface ExportOptions {
  /** Longest one FETCH may run before Postgres cancels it, in ms. */
  timeoutMs: number;
  /** Aborted when the client went away: the cursor is closed and the transaction ends. */
  signal: AbortSignal;
}

/** What {@link forEachExportBatch} calls, in order. */
export interface ExportBatchHandlers {
  /** Once the cursor is open, before the first FETCH. */
  opened(): Promise<void>;
  /** Each non-empty FETCH, in order; false stops (e.g. the client went away). */
  batch(rows: PublicRow[]): Promise<boolean>;
}

/**
 * Reads the rows of the range and filters, oldest first, from a server-side
 * cursor (`DECLARE … NO SCROLL CURSOR`, then `FETCH` of {@link EXPORT_FETCH_ROWS}
 * rows at a time) in a read-only transaction: memory stays flat whatever the
 * row count, and it works with any Kysely on `pg` (no driver-specific cursor
 * class). The next FETCH waits for the previous batch's handler. Stops when the
 * rows run out, the handler answers false or `options.signal` aborts.
 */
export async function forEachExportBatch(db: Kysely<PulseDatabase>, params: StatsParams, options: ExportOptions, handlers: ExportBatchHandlers): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(options.timeoutMs)}, true)`.execute(trx);
    await sql`declare pgpulse_export no scroll cursor for
      select ${PUBLIC_ROW_SQL} from pgpulse.request_logs
      where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}
      order by inserted_at, id`.execute(trx);
    await handlers.opened();
    while (!options.signal.aborted) {
      const batch = await sql<Record<string, unknown>>`fetch ${sql.raw(String(EXPORT_FETCH_ROWS))} from pgpulse_export`.execute(trx);
      if (batch.rows.length === 0) break;
      if (!(await handlers.batch(batch.rows.map(toPublicRow)))) break;
    }
    await sql`close pgpulse_export`.execute(trx);
  });
}

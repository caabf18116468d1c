import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import type { RequestLog } from '../schema/request-log.js';
import { needsInsertEncoding, pgTypes, requestLogColumnNames, requestLogColumns, toInsertValue } from '../schema/columns.js';

type Executor = Kysely<PulseDatabase> | Transaction<PulseDatabase>;

/**
 * Inserts rows with one statement, whatever the batch size:
 * `INSERT … SELECT FROM unnest($1::text[], …)` binds one array per column, so
 * it never meets the 65,535 bind-parameter limit of multi-row VALUES.
 */
export async function insertBatch(db: Executor, rows: readonly RequestLog[]): Promise<void> {
  await insertStatement(rows, sql``).execute(db);
}

/**
 * Like {@link insertBatch}, and answers the new ids in row order (ids come
 * from a sequence, so ascending order is insertion order) and the inserting
 * transaction id, in one round trip.
 */
export async function insertBatchReturning(db: Executor, rows: readonly RequestLog[]): Promise<{ ids: number[]; txId: string }> {
  const result = await sql<{ ids: string[]; tx: string }>`
    with inserted as (${insertStatement(rows, sql`returning id`)})
    select array_agg(id order by id)::text[] as ids, pg_current_xact_id()::text as tx from inserted`.execute(db);
  const row = result.rows[0]!;
  return { ids: row.ids.map(Number), txId: row.tx };
}

/** The `insert … select from unnest(…)` of `rows`: one array parameter per column of the column list. */
function insertStatement(rows: readonly RequestLog[], returning: RawBuilder<unknown>): RawBuilder<unknown> {
  const arrays = requestLogColumnNames.map((name) => {
    const values = new Array<unknown>(rows.length);
    // Hot path: one tight loop per column; only timestamps and JSON need encoding.
    if (needsInsertEncoding(name)) for (let i = 0; i < rows.length; i++) values[i] = toInsertValue(name, rows[i]![name]);
    else for (let i = 0; i < rows.length; i++) values[i] = rows[i]![name];
    return sql`${values}::${sql.raw(pgTypes[requestLogColumns[name].type].array)}`;
  });
  return sql`
    insert into pgpulse.request_logs (${COLUMN_LIST})
    select * from unnest(${sql.join(arrays)})
    ${returning}`;
}

const COLUMN_LIST = sql.join(requestLogColumnNames.map((name) => sql.ref(name)));

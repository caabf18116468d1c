/**
 * Writes a batch with `COPY pgpulse.request_logs FROM STDIN` (text format),
 * the cheapest way into Postgres: COPY inserts into each partition in
 * multi-row batches (one WAL record per page, not per row) and parses plain
 * text fields, where `INSERT … SELECT FROM unnest(…)` parses 15 arrays and
 * inserts row by row. About half the Postgres CPU per row (see BENCHMARKS.md,
 * "Ingest with many nodes"). Hand-written because it is the writer's hot path:
 * one string per batch, escaped per the COPY text format.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { requestLogColumnNames, requestLogColumns, type RequestLogColumnName } from '../schema/columns.js';
import type { PulseDatabase } from '../schema/database.js';
import type { RequestLog } from '../schema/request-log.js';

const COLUMNS = requestLogColumnNames.join(', ');

const SPECIAL = /[\\\t\n\r]/;

/** A text field in COPY text format. */
function escapeText(value: string): string {
  if (!SPECIAL.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** How each column of the column list is written in COPY text format (`\N` for null). */
const encoders = requestLogColumnNames.map((name: RequestLogColumnName): ((row: RequestLog) => string) => {
  const type = requestLogColumns[name].type;
  if (type === 'text') return (row) => (row[name] === null ? '\\N' : escapeText(row[name] as string));
  if (type === 'timestamptz') return (row) => (row[name] as Date).toISOString();
  // JSON.stringify escapes control characters, so only its backslashes need COPY escaping.
  if (type === 'jsonb') return (row) => (row[name] === null ? '\\N' : escapeText(JSON.stringify(row[name])));
  // smallint, double precision, bigint: numbers.
  return (row) => (row[name] === null ? '\\N' : (row[name] as number).toString());
});

/** The batch as COPY text, in column-list order, ids first when given. */
export function copyText(rows: readonly RequestLog[], ids?: readonly number[]): string {
  const lines = new Array<string>(rows.length);
  const fields = new Array<string>(encoders.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    for (let c = 0; c < encoders.length; c++) fields[c] = encoders[c]!(row);
    lines[i] = `${ids ? `${ids[i]}\t` : ''}${fields.join('\t')}\n`;
  }
  return lines.join('');
}

/**
 * Runs `work` in a transaction on one client of `pool`, with a Kysely bound
 * to that client (so steps written for Kysely run in the same transaction as
 * the COPY). Rolls back when `work` throws.
 */
export async function withCopyTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient, trx: Transaction<PulseDatabase>) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const single = new Kysely<PulseDatabase>({
      dialect: new PostgresDialect({
        pool: { connect: () => Promise.resolve({ query: client.query.bind(client), release: () => {} }), end: () => Promise.resolve() },
      }),
    });
    return await single.transaction().execute((trx) => work(client, trx));
  } catch (error) {
    // A COPY cut short can leave the connection in an unknown state: do not reuse it.
    broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * COPYs `rows` in the client's open transaction. With `returning`, first
 * reserves their ids from the table's sequence (ascending, so row order) and
 * answers them with the transaction id, as the bridge needs.
 */
export async function copyBatch(client: pg.PoolClient, rows: readonly RequestLog[], returning: boolean): Promise<{ ids: number[]; txId: string } | undefined> {
  let inserted: { ids: number[]; txId: string } | undefined;
  if (returning) {
    const result = await client.query<{ ids: string[]; tx: string }>(
      `select (select array_agg(id order by id)::text[] from (select nextval('pgpulse.request_logs_id_seq') as id from generate_series(1, $1::int)) s) as ids,
              pg_current_xact_id()::text as tx`,
      [rows.length],
    );
    inserted = { ids: result.rows[0]!.ids.map(Number), txId: result.rows[0]!.tx };
  }
  const columns = inserted ? `id, ${COLUMNS}` : COLUMNS;
  await pipeline(Readable.from([copyText(rows, inserted?.ids)]), client.query(copyFrom(`copy pgpulse.request_logs (${columns}) from stdin`)));
  return inserted;
}

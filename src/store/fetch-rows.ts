import { sql, type Kysely } from 'kysely';
import type { StoredRequestLog } from '../schema/request-log.js';
import { fromDatabase, requestLogColumnNames } from '../schema/columns.js';
import type { PulseDatabase } from '../schema/database.js';
import type { Snapshot } from './snapshot.js';

/** A delivered row with the id of the transaction that inserted it. */
export interface TxRow {
  txId: bigint;
  row: StoredRequestLog;
}

/** A `pgpulse.request_logs` row as node-postgres reads it (int8 as text). */
type DbRow = Record<string, unknown> & { id: string; tx_id: string };

/** Every column of the list, then `id` and the transaction id as text. */
const COLUMNS = sql.raw(`id, ${requestLogColumnNames.join(', ')}, tx_id::text as tx_id`);

/** Converts a `pgpulse.request_logs` row (int8 as text) into a StoredRequestLog. */
export function toStoredRow(r: Record<string, unknown>): StoredRequestLog {
  const row: Record<string, unknown> = { id: Number(r.id) };
  for (const name of requestLogColumnNames) row[name] = fromDatabase(name, r[name]);
  return row as StoredRequestLog;
}

function toTxRow(r: DbRow): TxRow {
  return { txId: BigInt(r.tx_id), row: toStoredRow(r) };
}

/** Rows of transaction `txId` within inclusive id ranges, by id. */
export async function fetchByIdRanges(db: Kysely<PulseDatabase>, txId: string, ranges: readonly (readonly [number, number])[]): Promise<TxRow[]> {
  const result = await sql<DbRow>`select ${COLUMNS} from unnest(${ranges.map((r) => r[0])}::int8[], ${ranges.map((r) => r[1])}::int8[]) as r(lo, hi)
       join pgpulse.request_logs l on l.id between r.lo and r.hi
      where l.tx_id = ${txId}::xid8
      order by l.id`.execute(db);
  return result.rows.map(toTxRow);
}

/** Every row transaction `txId` inserted, by id. */
export async function fetchByTx(db: Kysely<PulseDatabase>, txId: string): Promise<TxRow[]> {
  const result = await sql<DbRow>`select ${COLUMNS} from pgpulse.request_logs where tx_id = ${txId}::xid8 order by id`.execute(db);
  return result.rows.map(toTxRow);
}

/** Keyset position of catch-up paging: rows are read in `(tx_id, id)` order. */
export interface CatchUpCursor {
  txId: string;
  id: number;
}

/** A row's keys, as the catch-up reads them before fetching whole rows. */
export interface RowKey {
  txId: bigint;
  id: number;
  nodeId: string;
}

/**
 * One page of the keys of committed rows from transactions not visible in
 * `watermark`, after `cursor` in `(tx_id, id)` order (start with
 * `{ txId: '0', id: 0 }`). Such a transaction is either at or above the
 * watermark's xmax or in its in-progress list, so two `tx_id` index ranges
 * serve it, however long a transaction holds the watermark's xmin back.
 * With `upTo`, only transactions visible in that snapshot.
 */
export async function fetchCatchUpKeys(
  db: Kysely<PulseDatabase>,
  watermark: Snapshot,
  upTo: Snapshot | undefined,
  cursor: CatchUpCursor,
  limit: number,
): Promise<RowKey[]> {
  const after = sql`(${cursor.txId}::xid8, ${cursor.id}::int8)`;
  const upToText = upTo?.text ?? null;
  const result = await sql<{ tx_id: string; id: string; node_id: string }>`select tx_id::text as tx_id, id, node_id from (
        select tx_id, id, node_id from pgpulse.request_logs
         where tx_id = any(${[...watermark.xip].map(String)}::xid8[]) and (tx_id, id) > ${after}
        union all
        select tx_id, id, node_id from pgpulse.request_logs
         where tx_id >= ${watermark.xmax.toString()}::xid8 and (tx_id, id) > ${after}
      ) k
      where ${upToText}::pg_snapshot is null or pg_visible_in_snapshot(k.tx_id, ${upToText}::pg_snapshot)
      order by k.tx_id, k.id
      limit ${limit}`.execute(db);
  return result.rows.map((r) => ({ txId: BigInt(r.tx_id), id: Number(r.id), nodeId: r.node_id }));
}

/** Whole rows by id, by id. */
export async function fetchByIds(db: Kysely<PulseDatabase>, ids: readonly number[]): Promise<TxRow[]> {
  const result = await sql<DbRow>`select ${COLUMNS} from pgpulse.request_logs where id = any(${ids}::int8[]) order by id`.execute(db);
  return result.rows.map(toTxRow);
}

/**
 * One page of rows inserted at or after `since` by transactions visible in
 * `snapshot` (a stable set, so paging by id is safe).
 */
export async function fetchBackfillPage(db: Kysely<PulseDatabase>, snapshot: string, since: Date, afterId: number, limit: number): Promise<TxRow[]> {
  const result = await sql<DbRow>`select ${COLUMNS} from pgpulse.request_logs
      where inserted_at >= ${since}
        and pg_visible_in_snapshot(tx_id, ${snapshot}::pg_snapshot)
        and id > ${afterId}
      order by id
      limit ${limit}`.execute(db);
  return result.rows.map(toTxRow);
}

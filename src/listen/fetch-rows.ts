import type pg from 'pg';
import type { DeviceType, StoredRequestLog } from '../request-log.js';

/** A delivered row with the id of the transaction that inserted it. */
export interface TxRow {
  txId: bigint;
  row: StoredRequestLog;
}

interface DbRow {
  id: string;
  request_id: string;
  method: string;
  path: string;
  route: string | null;
  status_code: number;
  duration_ms: number;
  response_bytes: string | null;
  user_agent: string | null;
  referer: string | null;
  device_type: DeviceType;
  visitor_id: string | null;
  session_id: string | null;
  node_id: string;
  ip: string | null;
  inserted_at: Date;
  tx_id: string;
}

const COLUMNS = `id, request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent, referer,
  device_type, visitor_id, session_id, node_id, ip, inserted_at, tx_id::text as tx_id`;

/** Converts a `pgpulse.request_logs` row (int8 as text) into a StoredRequestLog. */
function toTxRow(r: DbRow): TxRow {
  return {
    txId: BigInt(r.tx_id),
    row: {
      id: Number(r.id),
      request_id: r.request_id,
      method: r.method,
      path: r.path,
      route: r.route,
      status_code: r.status_code,
      duration_ms: r.duration_ms,
      response_bytes: r.response_bytes === null ? null : Number(r.response_bytes),
      user_agent: r.user_agent,
      referer: r.referer,
      device_type: r.device_type,
      visitor_id: r.visitor_id,
      session_id: r.session_id,
      node_id: r.node_id,
      ip: r.ip,
      inserted_at: r.inserted_at,
    },
  };
}

/** Rows of transaction `txId` within inclusive id ranges, by id. */
export async function fetchByIdRanges(pool: pg.Pool, txId: string, ranges: readonly (readonly [number, number])[]): Promise<TxRow[]> {
  const result = await pool.query<DbRow>(
    `select ${COLUMNS} from unnest($1::int8[], $2::int8[]) as r(lo, hi)
       join pgpulse.request_logs l on l.id between r.lo and r.hi
      where l.tx_id = $3::xid8
      order by l.id`,
    [ranges.map((r) => r[0]), ranges.map((r) => r[1]), txId],
  );
  return result.rows.map(toTxRow);
}

/** Every row transaction `txId` inserted, by id. */
export async function fetchByTx(pool: pg.Pool, txId: string): Promise<TxRow[]> {
  const result = await pool.query<DbRow>(`select ${COLUMNS} from pgpulse.request_logs where tx_id = $1::xid8 order by id`, [txId]);
  return result.rows.map(toTxRow);
}

/** Keyset position of catch-up paging: rows are read in `(tx_id, id)` order. */
export interface CatchUpCursor {
  txId: string;
  id: number;
}

/**
 * One page of rows from transactions not visible in `watermark` (committed
 * after it was taken, or in progress then), after `cursor` in `(tx_id, id)`
 * order, so the `tx_id` index serves it however large the table is. Start
 * with `{ txId: xmin of watermark, id: 0 }`.
 */
export async function fetchCatchUpPage(pool: pg.Pool, watermark: string, cursor: CatchUpCursor, limit: number): Promise<TxRow[]> {
  const result = await pool.query<DbRow>(
    `select ${COLUMNS} from pgpulse.request_logs
      where tx_id >= $2::xid8
        and (tx_id, id) > ($2::xid8, $3::int8)
        and not pg_visible_in_snapshot(tx_id, $1::pg_snapshot)
      order by tx_id, id
      limit $4`,
    [watermark, cursor.txId, cursor.id, limit],
  );
  return result.rows.map(toTxRow);
}

/**
 * One page of rows inserted at or after `since` by transactions visible in
 * `snapshot` (a stable set, so paging by id is safe).
 */
export async function fetchBackfillPage(pool: pg.Pool, snapshot: string, since: Date, afterId: number, limit: number): Promise<TxRow[]> {
  const result = await pool.query<DbRow>(
    `select ${COLUMNS} from pgpulse.request_logs
      where inserted_at >= $1
        and pg_visible_in_snapshot(tx_id, $2::pg_snapshot)
        and id > $3
      order by id
      limit $4`,
    [since, snapshot, afterId, limit],
  );
  return result.rows.map(toTxRow);
}

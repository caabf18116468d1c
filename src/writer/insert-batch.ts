import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { PulseDatabase } from '../store/database.js';
import type { RequestLog } from '../request-log.js';

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

function insertStatement(rows: readonly RequestLog[], returning: RawBuilder<unknown>): RawBuilder<unknown> {
  const n = rows.length;
  const requestId = new Array<string>(n);
  const method = new Array<string>(n);
  const path = new Array<string>(n);
  const route = new Array<string | null>(n);
  const status = new Array<number>(n);
  const duration = new Array<number>(n);
  const bytes = new Array<number | null>(n);
  const userAgent = new Array<string | null>(n);
  const referer = new Array<string | null>(n);
  const device = new Array<string>(n);
  const visitor = new Array<string | null>(n);
  const session = new Array<string | null>(n);
  const node = new Array<string>(n);
  const ip = new Array<string | null>(n);
  const insertedAt = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    requestId[i] = r.request_id;
    method[i] = r.method;
    path[i] = r.path;
    route[i] = r.route;
    status[i] = r.status_code;
    duration[i] = r.duration_ms;
    bytes[i] = r.response_bytes;
    userAgent[i] = r.user_agent;
    referer[i] = r.referer;
    device[i] = r.device_type;
    visitor[i] = r.visitor_id;
    session[i] = r.session_id;
    node[i] = r.node_id;
    ip[i] = r.ip;
    insertedAt[i] = r.inserted_at.toISOString();
  }
  return sql`
    insert into pgpulse.request_logs
      (request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent,
       referer, device_type, visitor_id, session_id, node_id, ip, inserted_at)
    select * from unnest(
      ${requestId}::text[], ${method}::text[], ${path}::text[], ${route}::text[], ${status}::int2[],
      ${duration}::float8[], ${bytes}::int8[], ${userAgent}::text[], ${referer}::text[], ${device}::text[],
      ${visitor}::text[], ${session}::text[], ${node}::text[], ${ip}::text[], ${insertedAt}::timestamptz[])
    ${returning}`;
}

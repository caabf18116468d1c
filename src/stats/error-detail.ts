import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { bucketSeconds } from './bucket-size.js';
import { bucketExpression } from './bucket-sql.js';
import { errorCells, errorCover, rollupsAnswer } from './error-cells.js';
import type { ErrorDetailParams } from './error-params.js';
import { bucketStarts, coverSource, denseSeries, type ErrorRouteCount, type ErrorsAnswer } from './error-stats.js';
import { filtersOf } from './query-filters.js';
import { filterCondition } from './stats-filters.js';
import { num } from './stats.js';

/** Routes listed in an error's detail. */
export const DETAIL_ROUTES = 20;

/** One request that raised the error (`ErrorDetail.examples`). */
export interface ErrorExample {
  /** `inserted_at`, ISO 8601. */
  time: string;
  method: string;
  path: string;
  route: string | null;
  status: number;
  durationMs: number;
  requestId: string;
  traceId: string | null;
  spanId: string | null;
  consumerId: string | null;
  consumerName: string | null;
  /** This occurrence's message (the group keeps its first). */
  message: string | null;
  nodeId: string;
}

/** What `GET /api/errors/<fingerprint>` answers. */
export interface ErrorDetail {
  range: ErrorsAnswer['range'];
  buckets: number[];
  fingerprint: string;
  class: string;
  message: string;
  /** Top stack frames of its first occurrence, innermost first. */
  frames: string[];
  firstSeen: string;
  /** Request id of its first occurrence. */
  firstRequestId: string;
  isNew: boolean;
  /** Occurrences in the range under the filters, and the latest of them (null when none). */
  count: number;
  lastSeen: string | null;
  /** Occurrences ever stored (every retained hour rollup), and the latest. */
  total: { count: number; lastSeen: string | null };
  /** Routes it hit in the range, most occurrences first (at most {@link DETAIL_ROUTES}). */
  routes: ErrorRouteCount[];
  series: number[];
  /** The latest requests with this fingerprint in the range under the filters, newest first. */
  examples: ErrorExample[];
  /** The dashboard's trace link template (`{trace_id}`, `{span_id}`), null for no links. */
  traceUrl: string | null;
}

interface ExampleRow {
  inserted_at: Date;
  method: string;
  path: string;
  route: string | null;
  status_code: number;
  duration_ms: number;
  request_id: string;
  trace_id: string | null;
  span_id: string | null;
  consumer_id: string | null;
  consumer_name: string | null;
  message: string | null;
  node_id: string;
}

/**
 * The latest `examples` rows of the group in the range under the filters.
 * Without filters rollups do not have, the scan starts at the newest minute
 * cells holding that many occurrences (exact: a cell counts every row of its
 * minute), so it reads those minutes' rows, not the whole range's.
 */
async function latestExamples(db: Kysely<PulseDatabase>, params: ErrorDetailParams): Promise<ExampleRow[]> {
  const { from, to, fingerprint, examples } = params;
  const filters = filtersOf(params);
  let start = from;
  if (rollupsAnswer(filters)) {
    const route = filters.route === undefined ? sql`true` : sql`route = ${filters.route}`;
    // Whole minutes inside the range only: their counts are exactly the rows the scan below may read.
    const bound = await sql<{ bucket: Date | null }>`
      select max(bucket) as bucket from (
        select bucket, sum(sum(count)) over (order by bucket desc) as running from pgpulse.error_rollups
        where grain = 'minute' and fingerprint = ${fingerprint} and bucket >= ${from} and bucket + interval '1 minute' <= ${to} and ${route}
        group by bucket) b
      where running >= ${examples}`.execute(db);
    const bucket = bound.rows[0]?.bucket;
    if (bucket && bucket > start) start = bucket;
  }
  const result = await sql<ExampleRow>`
    select inserted_at, method, path, route, status_code, duration_ms, request_id, trace_id, span_id, consumer_id, consumer_name,
      error ->> 'message' as message, node_id
    from pgpulse.request_logs
    where inserted_at >= ${start} and inserted_at < ${to} and error_fingerprint = ${fingerprint} and ${filterCondition(filters)}
    order by inserted_at desc, id desc limit ${examples}`.execute(db);
  return result.rows;
}

interface GroupRow {
  class: string;
  message: string;
  frames: string[];
  first_seen: Date;
  first_request_id: string;
  total: string | null;
  total_last_seen: Date | null;
}

/**
 * One error group's detail over a range under the filters (see
 * {@link ErrorDetail}), or null when no group has that fingerprint. Run it in
 * a read-only transaction with a statement timeout (the dashboard does).
 */
export async function queryErrorDetail(db: Kysely<PulseDatabase>, params: ErrorDetailParams, traceUrl: string | null): Promise<ErrorDetail | null> {
  const { from, to, tz, fingerprint } = params;
  const group = await sql<GroupRow>`
    select g.class, g.message, g.frames, g.first_seen, g.first_request_id,
      (select sum(count) from pgpulse.error_rollups r where r.grain = 'hour' and r.fingerprint = g.fingerprint) as total,
      (select max(last_seen) from pgpulse.error_rollups r where r.grain = 'hour' and r.fingerprint = g.fingerprint) as total_last_seen
    from pgpulse.error_groups g where g.fingerprint = ${fingerprint}`.execute(db);
  const g = group.rows[0];
  if (!g) return null;
  const since = params.since ?? from;
  const filters = filtersOf(params);
  const size = bucketSeconds(from, to);
  const cover = errorCover(from, to, tz, size, filters);
  const figures = await sql<{ count: string | null; last_seen: Date | null; routes: [string, string | number][] | null; points: [number, string][] | null }>`
    with cells as materialized (${errorCells(cover, filters, fingerprint)})
    select (select sum(count) from cells) as count, (select max(last_seen) from cells) as last_seen,
      (select json_agg(json_build_array(r.route, r.n) order by r.n desc, r.route)
         from (select route, sum(count) as n from cells group by route order by n desc, route limit ${DETAIL_ROUTES}) r) as routes,
      (select json_agg(json_build_array(extract(epoch from s.t) * 1000, s.n) order by s.t)
         from (select ${bucketExpression(size, from, tz, sql`bucket`)} as t, sum(count) as n from cells group by 1) s) as points`.execute(db);
  const f = figures.rows[0]!;
  const buckets = await bucketStarts(db, size, from, to, tz);
  const examples = await latestExamples(db, params);
  return {
    range: { from: from.toISOString(), to: to.toISOString(), tz, since: since.toISOString(), filters, bucketSeconds: size, source: coverSource(cover) },
    buckets,
    fingerprint,
    class: g.class,
    message: g.message,
    frames: g.frames,
    firstSeen: g.first_seen.toISOString(),
    firstRequestId: g.first_request_id,
    isNew: g.first_seen >= since,
    count: num(f.count),
    lastSeen: f.last_seen?.toISOString() ?? null,
    total: { count: num(g.total), lastSeen: g.total_last_seen?.toISOString() ?? null },
    routes: (f.routes ?? []).map(([route, n]) => ({ route, count: Number(n) })),
    series: denseSeries(buckets, f.points),
    examples: examples.map((r) => ({
      time: r.inserted_at.toISOString(),
      method: r.method,
      path: r.path,
      route: r.route,
      status: r.status_code,
      durationMs: r.duration_ms,
      requestId: r.request_id,
      traceId: r.trace_id,
      spanId: r.span_id,
      consumerId: r.consumer_id,
      consumerName: r.consumer_name,
      message: r.message,
      nodeId: r.node_id,
    })),
    traceUrl,
  };
}

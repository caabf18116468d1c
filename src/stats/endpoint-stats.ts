import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ALL_ROUTES } from '../rollups/batch-rollup.js';
import { HOUR_MS } from '../shared/time.js';
import type { PulseDatabase } from '../schema/database.js';
import { PUBLIC_ROW_SQL, toPublicRow, type PublicRow } from '../schema/public-row.js';
import { bucketSeconds } from './bucket-size.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { cubeAnswers, coverCells } from './cube-cells.js';
import { cubeCover, trustedBuckets, type CubeCover } from './cube-cover.js';
import { RAW_MAX_RANGE_MS } from './query-stats.js';
import { filterCondition, filterKeys } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';
import { num } from './stats.js';

/** Newest requests of the range `slowest` looks at: the route index read backwards, never more rows than this. */
export const SLOWEST_SCAN_ROWS = 5_000;
/** Slowest requests listed. */
export const SLOWEST_ROWS = 10;
/**
 * Most requests of a route (as its hour rollups count them, whole hours) read
 * from raw rows for the series: fine buckets at the cost of one route index
 * scan of at most this many rows. Busier routes read the cube's hour cells.
 */
export const ENDPOINT_RAW_ROWS = 50_000;

/** One chart bucket of an endpoint: requests per exact status code and response bytes. */
export interface EndpointPoint {
  /** Bucket start, epoch ms. */
  t: number;
  requests: number;
  /** Response bytes (unknown sizes count 0); null from rollups, which keep no sizes. */
  bytes: number | null;
  /** Requests per exact status code (`"200"`); per class (`"2xx"`) from rollups. */
  codes: Record<string, number>;
}

/** What `GET /api/endpoint` answers: one route over a range, beyond what `/api/stats?route=` has. */
export interface EndpointStats {
  range: {
    from: string;
    to: string;
    tz: string;
    route: string;
    bucketSeconds: number;
    /**
     * `raw` rows (ranges up to 15 minutes, routes with at most
     * {@link ENDPOINT_RAW_ROWS} requests in the range, path or attribute
     * filters), the request `cube` (hour cells), or `rollups` while the cube
     * has not built the range (status classes, no bytes).
     */
    source: 'raw' | 'cube' | 'rollups';
  };
  series: EndpointPoint[];
  /** Every status code (or class) of the range, most requests first. */
  codes: { code: string; requests: number }[];
  /** The slowest of the route's newest requests in the range. */
  slowest: {
    rows: PublicRow[];
    /** Requests looked at: the newest of the range, at most {@link SLOWEST_SCAN_ROWS}. */
    scanned: number;
    /** The oldest of them, ISO 8601; null when none. */
    since: string | null;
  };
}

/** Whole unbuilt hours the cube may read from raw rows: a tenth of the range (as `/api/stats`). */
const maxUnbuiltHours = (from: Date, to: Date) => Math.floor((to.getTime() - from.getTime()) / HOUR_MS / 10);

/**
 * Whole hours of the cover read from raw rows that have requests (the writer's
 * rollups count some): an hour without any costs nothing to read raw, so it
 * does not count, unlike in `cubeCover`'s `unbuiltHours`.
 */
async function busyUnbuiltHours(db: Kysely<PulseDatabase>, cover: CubeCover): Promise<number> {
  const whole = cover.raw.flatMap(([lo, hi]) => {
    const hours: string[] = [];
    for (let t = Math.ceil(lo.getTime() / HOUR_MS) * HOUR_MS; t + HOUR_MS <= hi.getTime(); t += HOUR_MS) hours.push(new Date(t).toISOString());
    return hours;
  });
  if (whole.length === 0) return 0;
  const result = await sql<{ n: string }>`select count(distinct bucket) as n from pgpulse.rollups
    where grain = 'hour' and route = ${ALL_ROUTES} and requests > 0 and bucket = any(${whole}::timestamptz[])`.execute(db);
  return num(result.rows[0]?.n);
}

interface CodeRow {
  t: string;
  code: string | null;
  requests: string | null;
  bytes: number | null;
}

/** Per bucket and code: requests and bytes, `null` codes for empty buckets. */
function perBucket(size: number, params: StatsParams, grouped: RawBuilder<unknown>): RawBuilder<CodeRow> {
  return sql<CodeRow>`
    with g as (${grouped})
    select extract(epoch from b.t) * 1000 as t, g.code, g.requests, g.bytes
    from (${bucketSeries(size, params.from, params.to, params.tz)}) b left join g on g.t = b.t order by 1, 2`;
}

/**
 * The series of one route by exact status code, with bytes: raw rows on short
 * ranges and quiet routes, else hour cells of the request cube (raw rows only for hours it has
 * not built), else, while the cube lacks more than a tenth of the range's
 * hours with traffic, the route's hour rollups (status classes, no bytes).
 */
async function endpointSeries(db: Kysely<PulseDatabase>, params: StatsParams & { route: string }, rawRows: number) {
  const { from, to, tz } = params;
  const size = bucketSeconds(from, to);
  const long = to.getTime() - from.getTime() > RAW_MAX_RANGE_MS;
  if (!long || !cubeAnswers(params) || (await routeRequests(db, params)) <= rawRows) {
    const t = bucketExpression(size, from, tz);
    const rows = await perBucket(
      size,
      params,
      sql`select ${t} as t, status_code::text as code, count(*)::bigint as requests, sum(coalesce(response_bytes, 0))::float8 as bytes
        from pgpulse.request_logs where inserted_at >= ${from} and inserted_at < ${to} and ${filterCondition(params)} group by 1, 2`,
    ).execute(db);
    return { size, source: 'raw' as const, rows: rows.rows };
  }
  const cover = cubeCover(from, to, await trustedBuckets(db, from, to, { consumers: params.consumer !== undefined }), false);
  const onlyRoute = filterKeys.every((key) => key === 'route' || params[key] === undefined);
  const hourly = Math.max(3_600, size);
  if (onlyRoute && (await busyUnbuiltHours(db, cover)) > maxUnbuiltHours(from, to)) {
    const t = bucketExpression(hourly, from, tz, sql`bucket`);
    const classes = sql.join([1, 2, 3, 4, 5].map((c) => sql`(${`${c}xx`}, s${sql.raw(String(c))})`));
    const rows = await perBucket(
      hourly,
      params,
      sql`select ${t} as t, c.code, sum(c.n)::bigint as requests, null::float8 as bytes
        from pgpulse.rollups r cross join lateral (values ${classes}) c(code, n)
        where r.grain = 'hour' and r.route = ${params.route} and r.bucket >= date_trunc('hour', ${from}::timestamptz, 'UTC') and r.bucket < ${to} and c.n > 0
        group by 1, 2`,
    ).execute(db);
    return { size: hourly, source: 'rollups' as const, rows: rows.rows };
  }
  const t = bucketExpression(hourly, from, tz, sql`bucket`);
  const rows = await perBucket(
    hourly,
    params,
    sql`select ${t} as t, status_code::text as code, sum(requests)::bigint as requests, sum(bytes_sum)::float8 as bytes
      from (${coverCells(cover, params)}) cells group by 1, 2`,
  ).execute(db);
  return { size: hourly, source: 'cube' as const, rows: rows.rows };
}

/** Requests of the route in the whole hours around the range, as its hour rollups count them. */
async function routeRequests(db: Kysely<PulseDatabase>, params: StatsParams & { route: string }): Promise<number> {
  const result = await sql<{ n: string | null }>`select sum(requests) as n from pgpulse.rollups
    where grain = 'hour' and route = ${params.route} and bucket >= date_trunc('hour', ${params.from}::timestamptz, 'UTC') and bucket < ${params.to}`.execute(
    db,
  );
  return num(result.rows[0]?.n);
}

/** The slowest {@link SLOWEST_ROWS} of the newest {@link SLOWEST_SCAN_ROWS} requests of the route in the range (route index, read backwards). */
async function slowestRequests(db: Kysely<PulseDatabase>, params: StatsParams): Promise<EndpointStats['slowest']> {
  const result = await sql<Record<string, unknown> & { scanned: string; since: Date | null }>`
    with newest as materialized (
      select * from pgpulse.request_logs where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}
      order by inserted_at desc limit ${SLOWEST_SCAN_ROWS}),
    scan as (select count(*) as scanned, min(inserted_at) as since from newest)
    select scan.scanned, scan.since, s.* from scan left join lateral (
      select ${PUBLIC_ROW_SQL} from newest order by duration_ms desc, id desc limit ${SLOWEST_ROWS}) s on true`.execute(db);
  const first = result.rows[0];
  return {
    rows: result.rows.filter((r) => r.id !== null).map(toPublicRow),
    scanned: num(first?.scanned),
    since: first?.since ? first.since.toISOString() : null,
  };
}

/**
 * One route over a range, for the endpoint page: requests and bytes per
 * bucket by exact status code, every code, and the slowest recent requests.
 * Totals, percentiles, the latency series, consumers and breakdowns come from
 * `/api/stats?route=`. Read-only, under a statement timeout.
 */
export async function queryEndpoint(
  db: Kysely<PulseDatabase>,
  params: StatsParams & { route: string },
  options: { timeoutMs?: number; rawRows?: number } = {},
): Promise<EndpointStats> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    const series = await endpointSeries(trx, params, options.rawRows ?? ENDPOINT_RAW_ROWS);
    const points = new Map<number, EndpointPoint>();
    const totals = new Map<string, number>();
    for (const row of series.rows) {
      const t = Number(row.t);
      let point = points.get(t);
      if (!point) points.set(t, (point = { t, requests: 0, bytes: series.source === 'rollups' ? null : 0, codes: {} }));
      if (row.code === null) continue;
      const requests = num(row.requests);
      point.requests += requests;
      if (point.bytes !== null) point.bytes += num(row.bytes);
      point.codes[row.code] = requests;
      totals.set(row.code, (totals.get(row.code) ?? 0) + requests);
    }
    return {
      range: {
        from: params.from.toISOString(),
        to: params.to.toISOString(),
        tz: params.tz,
        route: params.route,
        bucketSeconds: series.size,
        source: series.source,
      },
      series: [...points.values()],
      codes: [...totals].map(([code, requests]) => ({ code, requests })).sort((a, b) => b.requests - a.requests || a.code.localeCompare(b.code)),
      slowest: await slowestRequests(trx, params),
    };
  });
}

import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { bucketSeconds } from './bucket-size.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { errorCells, errorCover, type ErrorCover } from './error-cells.js';
import type { ErrorsParams } from './error-params.js';
import { filtersOf } from './query-filters.js';
import type { StatsFilters } from './stats-filters.js';
import { num } from './stats.js';

/** Routes listed per error group in `GET /api/errors`. */
export const TOP_ERROR_ROUTES = 5;

/** Occurrences of a group on one route ('' for requests without a route). */
export interface ErrorRouteCount {
  route: string;
  count: number;
}

/** One error group of a range (`GET /api/errors`). */
export interface ErrorGroupStat {
  fingerprint: string;
  class: string;
  /** The message of its first occurrence (bounded and redacted when captured). */
  message: string;
  /** Occurrences in the range under the filters. */
  count: number;
  /** When the group was first stored (any range), ISO 8601. */
  firstSeen: string;
  /** Its latest occurrence in the range, ISO 8601. */
  lastSeen: string;
  /** First seen at or after `since` (default: the range's start). */
  isNew: boolean;
  /** The routes it hit in the range, most occurrences first (at most {@link TOP_ERROR_ROUTES}). */
  routes: ErrorRouteCount[];
  /** Distinct routes it hit in the range. */
  routeCount: number;
  /** Occurrences per bucket, aligned with `ErrorsAnswer.buckets`. */
  series: number[];
}

/** What `GET /api/errors` answers. */
export interface ErrorsAnswer {
  range: {
    from: string;
    to: string;
    tz: string;
    /** What counts as new: first seen at or after this instant. */
    since: string;
    filters: StatsFilters;
    bucketSeconds: number;
    /** `raw` rows only, or `rollups` (error rollups for whole minutes or hours, raw rows for the edges). */
    source: 'raw' | 'rollups';
  };
  /** Bucket starts of the series, epoch ms. */
  buckets: number[];
  /** Groups with occurrences in the range under the filters, most occurrences first (then latest). */
  groups: ErrorGroupStat[];
  /** Distinct groups of the range (listed or not). */
  groupCount: number;
  /** Of them, new since `since`. */
  newCount: number;
  /** Occurrences of every group in the range. */
  errorCount: number;
}

/** Which source a cover reads, for `range.source`. */
export const coverSource = (cover: ErrorCover): 'raw' | 'rollups' => (cover.minutes.length + cover.hours.length > 0 ? 'rollups' : 'raw');

/** A listed group; the statement's last row may instead be totals only (no group listed: every group column null). */
interface GroupRow {
  fingerprint: string | null;
  class: string;
  message: string;
  first_seen: Date;
  count: string;
  last_seen: Date;
  routes: [string, string | number][] | null;
  route_count: string;
  points: [number | string, string | number][] | null;
  group_count: string;
  new_count: string;
  error_count: string | null;
}

/** Bucket starts (epoch ms) of the range's chart, as `/api/stats` draws them. */
export async function bucketStarts(db: Kysely<PulseDatabase>, size: number, from: Date, to: Date, tz: string): Promise<number[]> {
  const result = await sql<{ t: number | string }>`select extract(epoch from s.t) * 1000 as t from (${bucketSeries(size, from, to, tz)}) s order by 1`.execute(
    db,
  );
  return result.rows.map((r) => Number(r.t));
}

/** Sparse `[t, n]` points spread over `buckets` (zero where a bucket has none). */
export function denseSeries(buckets: readonly number[], points: readonly [number | string, string | number][] | null): number[] {
  const index = new Map(buckets.map((t, i) => [t, i]));
  const series = buckets.map(() => 0);
  for (const [t, n] of points ?? []) {
    const i = index.get(Number(t));
    if (i !== undefined) series[i]! += Number(n);
  }
  return series;
}

/**
 * The error groups of a range under the filters (see {@link ErrorsAnswer}):
 * one statement over the cells of {@link errorCover}, the top `limit` groups
 * with their routes and series. Run it in a read-only transaction with a
 * statement timeout (the dashboard does).
 */
export async function queryErrors(db: Kysely<PulseDatabase>, params: ErrorsParams): Promise<ErrorsAnswer> {
  const { from, to, tz } = params;
  const since = params.since ?? from;
  const filters = filtersOf(params);
  const size = bucketSeconds(from, to);
  const cover = errorCover(from, to, tz, size, filters);
  const onlyNew = params.new ? sql`e.first_seen >= ${since}` : sql`true`;
  const result = await sql<GroupRow>`
    with cells as materialized (${errorCells(cover, filters)}),
    groups as (
      select c.fingerprint, sum(c.count)::bigint as count, max(c.last_seen) as last_seen, e.class, e.message, e.first_seen
      from cells c join pgpulse.error_groups e on e.fingerprint = c.fingerprint
      group by c.fingerprint, e.class, e.message, e.first_seen),
    listed as (select * from groups e where ${onlyNew}),
    kept as (select * from listed order by count desc, last_seen desc, fingerprint limit ${params.limit})
    select k.fingerprint, k.class, k.message, k.first_seen, k.count, k.last_seen,
      (select json_agg(json_build_array(r.route, r.n) order by r.n desc, r.route)
         from (select route, sum(count) as n from cells c where c.fingerprint = k.fingerprint
               group by route order by n desc, route limit ${TOP_ERROR_ROUTES}) r) as routes,
      (select count(distinct route) from cells c where c.fingerprint = k.fingerprint) as route_count,
      (select json_agg(json_build_array(extract(epoch from s.t) * 1000, s.n) order by s.t)
         from (select ${bucketExpression(size, from, tz, sql`c.bucket`)} as t, sum(count) as n from cells c
               where c.fingerprint = k.fingerprint group by 1) s) as points,
      (select count(*) from listed) as group_count,
      (select count(*) from listed where first_seen >= ${since}) as new_count,
      (select sum(count) from listed) as error_count
    from kept k
    union all
    select null, null, null, null, null, null, null, null, null,
      (select count(*) from listed), (select count(*) from listed where first_seen >= ${since}), (select sum(count) from listed)
    where not exists (select 1 from kept)
    order by 5 desc nulls last, 6 desc, 1`.execute(db);
  const buckets = await bucketStarts(db, size, from, to, tz);
  const rows = result.rows.filter((r): r is GroupRow & { fingerprint: string } => r.fingerprint !== null);
  const totals = result.rows[0];
  return {
    range: { from: from.toISOString(), to: to.toISOString(), tz, since: since.toISOString(), filters, bucketSeconds: size, source: coverSource(cover) },
    buckets,
    groups: rows.map((r) => ({
      fingerprint: r.fingerprint,
      class: r.class,
      message: r.message,
      count: num(r.count),
      firstSeen: r.first_seen.toISOString(),
      lastSeen: r.last_seen.toISOString(),
      isNew: r.first_seen >= since,
      routes: (r.routes ?? []).map(([route, n]) => ({ route, count: Number(n) })),
      routeCount: num(r.route_count),
      series: denseSeries(buckets, r.points),
    })),
    groupCount: num(totals?.group_count),
    newCount: num(totals?.new_count),
    errorCount: num(totals?.error_count),
  };
}

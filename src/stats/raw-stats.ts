import { sql, type RawBuilder } from 'kysely';
import { bucketSeconds } from './bucket-size.js';
import type { StatsParams } from './stats-params.js';
import { filterCondition, needsRawRows, REFERRER_HOST_SQL, type StatsFilters } from './stats-filters.js';
import { queryRollupStats } from './rollup-stats.js';
import type { AnyKysely } from '../store/database.js';

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface StatsTotals extends Percentiles {
  requests: number;
  /** Unique visitors (an HLL estimate, ±3%, when answered from rollups). */
  visitors: number | null;
  /** Sessions; null when answered from rollups. */
  sessions: number | null;
  /** Share of requests answered 5xx, 0–1. */
  errorRate: number;
  /** Share of requests answered 4xx, 0–1. */
  clientErrorRate: number;
  avgMs: number | null;
  status: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
}

export interface SeriesPoint extends Percentiles {
  /** Bucket start, epoch ms. */
  t: number;
  requests: number;
  /** Null when answered from rollups with a route filter. */
  visitors: number | null;
  errors: number;
}

export interface RouteStat extends Percentiles {
  route: string | null;
  requests: number;
  errors: number;
}

export interface CountStat {
  key: string | null;
  requests: number;
  /** Distinct visitors; null when answered from rollups (top lists there come from a sample). */
  visitors?: number | null;
}

/** Everything `GET /api/stats` answers. */
export interface Stats {
  range: {
    from: string;
    to: string;
    tz: string;
    route: string | null;
    /** The filters applied (see `stats-filters.ts`). */
    filters: StatsFilters;
    bucketSeconds: number;
    /** `raw` rows, or `rollups` (per minute or hour) for ranges over an hour. */
    source: 'raw' | 'rollups';
    /** When answered from rollups, top paths, referrers, 404s, browsers, OS, countries and referrer hosts are estimated from a sample of this percentage of rows. */
    sampledPercent: number | null;
  };
  totals: StatsTotals;
  series: SeriesPoint[];
  topRoutes: RouteStat[];
  slowestRoutes: RouteStat[];
  topPaths: CountStat[];
  referrers: CountStat[];
  devices: CountStat[];
  notFound: CountStat[];
  /** Browser families (`browser` column), bots and unknown user agents excluded. */
  browsers: CountStat[];
  /** OS families (`os` column), bots and unknown user agents excluded. */
  operatingSystems: CountStat[];
  /** Countries from trusted CDN headers (`country` column); empty unless `trustCountryHeaders`. */
  countries: CountStat[];
  /** Referrer hosts (`referer_host` column). */
  refererHosts: CountStat[];
}

export interface QueryStatsOptions {
  /** Longest the queries may run before Postgres cancels them. Default 15,000 ms. */
  timeoutMs?: number;
  /** Referrer hosts left out of the referrers list (the app's own host: internal navigation). Default none. */
  ownHosts?: readonly string[];
}

/** Rows of a top list. */
export const TOP_N = 10;

/** Ranges up to this long are computed exactly from raw rows; longer ones from rollups. */
export const RAW_MAX_RANGE_MS = 15 * 60_000;

export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const pct = (v: unknown): Percentiles => {
  const a = (v as (number | null)[] | null) ?? [null, null, null];
  return { p50: a[0] ?? null, p95: a[1] ?? null, p99: a[2] ?? null };
};

const PERCENTILES = sql`percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by duration_ms)`;

/**
 * Computes dashboard statistics from raw rows over `[from, to)`, bucketed in
 * the caller's time zone. Every value reaches Postgres as a bind parameter.
 * The queries share one read-only transaction (one pooled connection, so a
 * dashboard never starves the app's writer) with a statement timeout.
 */
export async function queryStats(db: AnyKysely, params: StatsParams, options: QueryStatsOptions = {}): Promise<Stats> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`pgpulse dashboard: statsTimeoutMs must be a positive integer, got ${timeoutMs}`);
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    // Long ranges read rollups: a few thousand rows instead of millions. Filters
    // other than a route have no rollup dimension, so they read raw rows.
    const ownHosts = normalizeHosts(options.ownHosts);
    if (params.to.getTime() - params.from.getTime() > RAW_MAX_RANGE_MS && !needsRawRows(params) && params.route !== '') {
      return queryRollupStats(trx, params, ownHosts);
    }
    return runStatsQueries(trx, params, ownHosts);
  });
}

/** Exact statistics from raw rows, whatever the range (what short ranges use). */
export function queryRawStats(db: AnyKysely, params: StatsParams, ownHosts: readonly string[] = []): Promise<Stats> {
  return runStatsQueries(db, params, normalizeHosts(ownHosts));
}

/** Host names as the referrer SQL yields them: lower case, no `www.`, no port. */
export function normalizeHosts(hosts: readonly string[] | undefined): string[] {
  return [...new Set((hosts ?? []).map((h) => h.toLowerCase().replace(/:\d+$/, '').replace(/^www\./, '')).filter(Boolean))];
}

/** The filters of the params, without the range. */
export function filtersOf(params: StatsParams): StatsFilters {
  const { route, path, referrer, device, status, node } = params;
  return Object.fromEntries(Object.entries({ route, path, referrer, device, status, node }).filter(([, v]) => v !== undefined)) as StatsFilters;
}

/** Referrer hosts of rows with a referrer from another site, for the referrers list. */
export function referrerHostCondition(ownHosts: readonly string[]): RawBuilder<unknown> {
  return ownHosts.length === 0 ? sql`referer is not null` : sql`referer is not null and ${REFERRER_HOST_SQL} <> all(${ownHosts}::text[])`;
}

async function runStatsQueries(db: AnyKysely, params: StatsParams, ownHosts: readonly string[]): Promise<Stats> {
  const { from, to, tz } = params;
  const route = params.route ?? null;
  const size = bucketSeconds(from, to);
  const where = sql`inserted_at >= ${from} and inserted_at < ${to} and ${filterCondition(params)}`;
  const bucket = bucketExpression(size, from, tz);

  const [totals, series, topRoutes, slowestRoutes, topPaths, referrers, devices, notFound, browsers, operatingSystems, countries, refererHosts] = await Promise.all([
    sql<Record<string, unknown>>`
      select count(*)::int as requests, count(distinct visitor_id)::int as visitors, count(distinct session_id)::int as sessions,
        count(*) filter (where status_code < 200)::int as s1,
        count(*) filter (where status_code between 200 and 299)::int as s2,
        count(*) filter (where status_code between 300 and 399)::int as s3,
        count(*) filter (where status_code between 400 and 499)::int as s4,
        count(*) filter (where status_code >= 500)::int as s5,
        avg(duration_ms) as avg_ms, ${PERCENTILES} as pct
      from pgpulse.request_logs where ${where}`.execute(db),
    sql<Record<string, unknown>>`
      with agg as (
        select ${bucket} as t, count(*)::int as requests, count(distinct visitor_id)::int as visitors,
          count(*) filter (where status_code >= 500)::int as errors, ${PERCENTILES} as pct
        from pgpulse.request_logs where ${where} group by 1)
      select extract(epoch from b.t) * 1000 as t, agg.requests, agg.visitors, agg.errors, agg.pct
      from (${bucketSeries(size, from, to, tz)}) b left join agg on agg.t = b.t order by b.t`.execute(db),
    routeStats(db, where, sql`count(*) desc`),
    routeStats(db, where, sql`(${PERCENTILES})[2] desc nulls last`),
    countBy(db, sql`path`, where),
    countBy(db, REFERRER_HOST_SQL, sql`${where} and ${referrerHostCondition(ownHosts)}`),
    countBy(db, sql`device_type`, where, false),
    countBy(db, sql`path`, sql`${where} and status_code = 404`),
    countBy(db, sql`browser`, sql`${where} and browser is not null`),
    countBy(db, sql`os`, sql`${where} and os is not null`),
    countBy(db, sql`country`, sql`${where} and country is not null`),
    countBy(db, sql`referer_host`, sql`${where} and referer_host is not null`),
  ]);

  const t = totals.rows[0] ?? {};
  const requests = num(t.requests);
  return {
    range: { from: from.toISOString(), to: to.toISOString(), tz, route, filters: filtersOf(params), bucketSeconds: size, source: 'raw', sampledPercent: null },
    totals: {
      requests,
      visitors: num(t.visitors),
      sessions: num(t.sessions),
      errorRate: requests ? num(t.s5) / requests : 0,
      clientErrorRate: requests ? num(t.s4) / requests : 0,
      avgMs: t.avg_ms === null || t.avg_ms === undefined ? null : Number(t.avg_ms),
      status: { '1xx': num(t.s1), '2xx': num(t.s2), '3xx': num(t.s3), '4xx': num(t.s4), '5xx': num(t.s5) },
      ...pct(t.pct),
    },
    series: series.rows.map((r) => ({ t: Number(r.t), requests: num(r.requests), visitors: num(r.visitors), errors: num(r.errors), ...pct(r.pct) })),
    topRoutes,
    slowestRoutes,
    topPaths,
    referrers,
    devices,
    notFound,
    browsers,
    operatingSystems,
    countries,
    refererHosts,
  };
}

/** Bucket start of each row: fixed-size bins aligned on local midnight, or local calendar days. */
export function bucketExpression(size: number, from: Date, tz: string, column: RawBuilder<unknown> = sql`inserted_at`): RawBuilder<unknown> {
  if (size >= 86_400) return sql`(date_trunc('day', ${column} at time zone ${tz}) at time zone ${tz})`;
  return sql`date_bin(${`${size} seconds`}::interval, ${column}, ${localMidnight(from, tz)})`;
}

/** Every bucket start in the range, so empty buckets show as zero. */
export function bucketSeries(size: number, from: Date, to: Date, tz: string): RawBuilder<unknown> {
  if (size >= 86_400) {
    return sql`select (d at time zone ${tz}) as t from generate_series(date_trunc('day', ${from}::timestamptz at time zone ${tz}), ${to}::timestamptz at time zone ${tz}, interval '1 day') d`;
  }
  return sql`select generate_series(date_bin(${`${size} seconds`}::interval, ${from}::timestamptz, ${localMidnight(from, tz)}), ${to}::timestamptz - interval '1 microsecond', ${`${size} seconds`}::interval) as t`;
}

function localMidnight(from: Date, tz: string): RawBuilder<unknown> {
  return sql`(date_trunc('day', ${from}::timestamptz at time zone ${tz}) at time zone ${tz})`;
}

async function routeStats(db: AnyKysely, where: RawBuilder<unknown>, order: RawBuilder<unknown>): Promise<RouteStat[]> {
  const result = await sql<Record<string, unknown>>`
    select route, count(*)::int as requests, count(*) filter (where status_code >= 500)::int as errors, ${PERCENTILES} as pct
    from pgpulse.request_logs where ${where} group by route order by ${order}, route limit ${TOP_N}`.execute(db);
  return result.rows.map((r) => ({ route: (r.route as string | null) ?? null, requests: num(r.requests), errors: num(r.errors), ...pct(r.pct) }));
}

/** Top values of `column` by requests, with distinct visitors when `visitors` (devices keep requests only, as rollups do). */
async function countBy(db: AnyKysely, column: RawBuilder<unknown>, where: RawBuilder<unknown>, visitors = true): Promise<CountStat[]> {
  const result = await sql<{ key: string | null; requests: number; visitors: number }>`
    select ${column} as key, count(*)::int as requests${visitors ? sql`, count(distinct visitor_id)::int as visitors` : sql``} from pgpulse.request_logs where ${where}
    group by 1 order by 2 desc, 1 limit ${TOP_N}`.execute(db);
  return result.rows.map((r) => (visitors ? { key: r.key, requests: num(r.requests), visitors: num(r.visitors) } : { key: r.key, requests: num(r.requests) }));
}

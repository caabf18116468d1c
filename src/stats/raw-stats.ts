import { sql, type Kysely, type RawBuilder } from 'kysely';
import { bucketSeconds } from './bucket-size.js';
import type { StatsParams } from './stats-params.js';
import { filterCondition, REFERRER_HOST_SQL } from './stats-filters.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { filtersOf, normalizeHosts, referrerHostCondition } from './query-filters.js';
import { num, TOP_N, type CountStat, type Percentiles, type RouteStat, type Stats } from './stats.js';
import type { PulseDatabase } from '../store/database.js';

const pct = (v: unknown): Percentiles => {
  const a = (v as (number | null)[] | null) ?? [null, null, null];
  return { p50: a[0] ?? null, p95: a[1] ?? null, p99: a[2] ?? null };
};

const PERCENTILES = sql`percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by duration_ms)`;

/** Exact statistics from raw rows, whatever the range (what short ranges use). */
export function queryRawStats(db: Kysely<PulseDatabase>, params: StatsParams, ownHosts: readonly string[] = []): Promise<Stats> {
  return runStatsQueries(db, params, normalizeHosts(ownHosts));
}

async function runStatsQueries(db: Kysely<PulseDatabase>, params: StatsParams, ownHosts: readonly string[]): Promise<Stats> {
  const { from, to, tz } = params;
  const route = params.route ?? null;
  const size = bucketSeconds(from, to);
  const where = sql`inserted_at >= ${from} and inserted_at < ${to} and ${filterCondition(params)}`;
  const bucket = bucketExpression(size, from, tz);

  const [totals, series, topRoutes, slowestRoutes, topPaths, referrers, devices, notFound, browsers, operatingSystems, countries, refererHosts, nodes] =
    await Promise.all([
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
      countBy(db, sql`node_id`, where, false),
    ]);

  // Only with `attributeKey`: the values of that custom attribute (after the rest: one connection runs them in turn anyway).
  const attributeKey = params.attributeKey;
  const attributeValues =
    attributeKey === undefined
      ? undefined
      : await countBy(db, sql`attributes ->> ${attributeKey}`, sql`${where} and attributes ->> ${attributeKey} is not null`);
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
    nodes,
    ...(attributeKey !== undefined && attributeValues && { attributes: { key: attributeKey, values: attributeValues } }),
  };
}

async function routeStats(db: Kysely<PulseDatabase>, where: RawBuilder<unknown>, order: RawBuilder<unknown>): Promise<RouteStat[]> {
  const result = await sql<Record<string, unknown>>`
    select route, count(*)::int as requests, count(*) filter (where status_code >= 500)::int as errors, ${PERCENTILES} as pct
    from pgpulse.request_logs where ${where} group by route order by ${order}, route limit ${TOP_N}`.execute(db);
  return result.rows.map((r) => ({ route: (r.route as string | null) ?? null, requests: num(r.requests), errors: num(r.errors), ...pct(r.pct) }));
}

/** Top values of `column` by requests, with distinct visitors when `visitors` (devices and nodes keep requests only). */
async function countBy(db: Kysely<PulseDatabase>, column: RawBuilder<unknown>, where: RawBuilder<unknown>, visitors = true): Promise<CountStat[]> {
  const result = await sql<{ key: string | null; requests: number; visitors: number }>`
    select ${column} as key, count(*)::int as requests${visitors ? sql`, count(distinct visitor_id)::int as visitors` : sql``} from pgpulse.request_logs where ${where}
    group by 1 order by 2 desc, 1 limit ${TOP_N}`.execute(db);
  return result.rows.map((r) => (visitors ? { key: r.key, requests: num(r.requests), visitors: num(r.visitors) } : { key: r.key, requests: num(r.requests) }));
}

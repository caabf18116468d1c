import { sql, type Kysely } from 'kysely';
import { bucketSeconds } from '../dashboard/bucket-size.js';
import { bucketExpression, bucketSeries, num, TOP_N, type CountStat, type RouteStat, type Stats } from '../dashboard/stats-query.js';
import type { StatsParams } from '../dashboard/stats-params.js';
import { ALL_ROUTES } from './batch-rollup.js';
import { hllEstimate, hllMerge, HLL_REGISTERS } from './hyperloglog.js';
import { addSparse, densePercentiles, denseHistogram, type DenseHistogram } from './latency-histogram.js';

/**
 * Top paths, referrers and 404s of a rollup range are estimated from a
 * `TABLESAMPLE SYSTEM` sample of about this many raw rows (counts scaled up).
 */
export const SAMPLE_ROWS = 25_000;

const QUANTILES = [0.5, 0.95, 0.99] as const;

function percentiles(histogram: DenseHistogram | undefined) {
  if (!histogram) return { p50: null, p95: null, p99: null };
  const [p50, p95, p99] = densePercentiles(histogram, QUANTILES);
  return { p50: p50 ?? null, p95: p95 ?? null, p99: p99 ?? null };
}

/** The dense histogram of `key`, created on first use. Histograms travel as comma-separated text: much faster to read than Postgres array literals. */
function histogramOf<K>(map: Map<K, DenseHistogram>, key: K): DenseHistogram {
  let histogram = map.get(key);
  if (!histogram) map.set(key, (histogram = denseHistogram()));
  return histogram;
}

/**
 * Dashboard statistics from `pgpulse.rollups` and `pgpulse.visitor_sketches`:
 * minute rollups when the chart buckets are under an hour, hour rollups
 * otherwise (ranges are widened to whole minutes or hours). Percentiles come
 * from log-bucketed histograms (within 2% of exact), visitors from HyperLogLog
 * sketches (about ±3%); top paths, referrers and 404s from the newest
 * {@link SAMPLE_ROWS} raw rows of the range.
 */
export async function queryRollupStats(db: Kysely<any>, params: StatsParams): Promise<Stats> {
  const { from, to, tz } = params;
  const route = params.route ?? null;
  const size = bucketSeconds(from, to);
  // Minute rollups only exist for all routes together; a route filter reads hour rollups.
  const grain = size < 3_600 && route === null ? 'minute' : 'hour';
  const routeKey = route === null ? ALL_ROUTES : route;
  const inRange = sql`grain = ${grain} and bucket >= date_trunc(${grain}, ${from}::timestamptz, 'UTC') and bucket < ${to}`;
  const seriesSize = Math.max(size, grain === 'hour' ? 3_600 : 60);
  const t = bucketExpression(seriesSize, from, tz, sql`bucket`);

  const [series, histograms, routes, sketches] = await Promise.all([
    sql<Record<string, unknown>>`
      with agg as (
        select ${t} as t, sum(requests)::int as requests, sum(s5)::int as errors, sum(s1)::int as s1, sum(s2)::int as s2,
          sum(s3)::int as s3, sum(s4)::int as s4, sum(duration_sum) as duration_sum, sum(desktop)::int as desktop,
          sum(mobile)::int as mobile, sum(tablet)::int as tablet, sum(bot)::int as bot
        from pgpulse.rollups where ${inRange} and route = ${routeKey} group by 1)
      select extract(epoch from b.t) * 1000 as t, agg.requests, agg.errors, agg.s1, agg.s2, agg.s3, agg.s4, agg.duration_sum,
        agg.desktop, agg.mobile, agg.tablet, agg.bot
      from (${bucketSeries(seriesSize, from, to, tz)}) b left join agg on agg.t = b.t order by b.t`.execute(db),
    // Histograms are merged here, not with unnest() in SQL: several times faster.
    sql<{ t: number; hist_idx: string; hist_cnt: string }>`
      select extract(epoch from ${t}) * 1000 as t, array_to_string(hist_idx, ',') as hist_idx, array_to_string(hist_cnt, ',') as hist_cnt
      from pgpulse.rollups where ${inRange} and route = ${routeKey}`.execute(db),
    route === null ? routeRows(db, from, to) : undefined,
    sql<{ t: number; hll: Buffer }>`
      select extract(epoch from ${t}) * 1000 as t, hll from pgpulse.visitor_sketches where ${inRange}`.execute(db),
  ]);
  const rangeRequests = series.rows.reduce((sum, r) => sum + num(r.requests), 0);
  const percent = rangeRequests <= SAMPLE_ROWS ? 100 : Math.max(0.01, (SAMPLE_ROWS / rangeRequests) * 100);
  const sampled = await sampledTopLists(db, from, to, route, percent);

  // Series and totals.
  const perBucket = new Map<number, DenseHistogram>();
  const total = denseHistogram();
  for (const row of histograms.rows) {
    addSparse(histogramOf(perBucket, Number(row.t)), row.hist_idx, row.hist_cnt);
    addSparse(total, row.hist_idx, row.hist_cnt);
  }
  const sketchPerBucket = new Map<number, Uint8Array>();
  const allVisitors = new Uint8Array(HLL_REGISTERS);
  for (const { t: at, hll } of sketches.rows) {
    const key = Number(at);
    let merged = sketchPerBucket.get(key);
    if (!merged) sketchPerBucket.set(key, (merged = new Uint8Array(HLL_REGISTERS)));
    hllMerge(merged, hll);
    hllMerge(allVisitors, hll);
  }
  const sums = { requests: 0, s1: 0, s2: 0, s3: 0, s4: 0, s5: 0, duration: 0, desktop: 0, mobile: 0, tablet: 0, bot: 0 };
  const points = series.rows.map((r) => {
    const at = Number(r.t);
    sums.requests += num(r.requests);
    sums.s1 += num(r.s1);
    sums.s2 += num(r.s2);
    sums.s3 += num(r.s3);
    sums.s4 += num(r.s4);
    sums.s5 += num(r.errors);
    sums.duration += num(r.duration_sum);
    sums.desktop += num(r.desktop);
    sums.mobile += num(r.mobile);
    sums.tablet += num(r.tablet);
    sums.bot += num(r.bot);
    const sketch = sketchPerBucket.get(at);
    return {
      t: at,
      requests: num(r.requests),
      visitors: route === null ? (sketch ? hllEstimate(sketch) : 0) : null,
      errors: num(r.errors),
      ...percentiles(perBucket.get(at)),
    };
  });

  const routeStats = routes ? routeStatsFrom(routes) : [];
  const devices: CountStat[] = (['desktop', 'mobile', 'tablet', 'bot'] as const)
    .map((key) => ({ key, requests: sums[key] }))
    .filter((d) => d.requests > 0)
    .sort((a, b) => b.requests - a.requests);
  const requests = sums.requests;
  return {
    range: { from: from.toISOString(), to: to.toISOString(), tz, route, bucketSeconds: seriesSize, source: 'rollups', sampledPercent: percent },
    totals: {
      requests,
      visitors: route === null ? hllEstimate(allVisitors) : null,
      sessions: null,
      errorRate: requests ? sums.s5 / requests : 0,
      clientErrorRate: requests ? sums.s4 / requests : 0,
      avgMs: requests ? sums.duration / requests : null,
      status: { '1xx': sums.s1, '2xx': sums.s2, '3xx': sums.s3, '4xx': sums.s4, '5xx': sums.s5 },
      ...percentiles(total),
    },
    series: points,
    topRoutes: routeStats.slice().sort((a, b) => b.requests - a.requests || String(a.route).localeCompare(String(b.route))).slice(0, TOP_N),
    slowestRoutes: routeStats.slice().sort((a, b) => (b.p95 ?? -1) - (a.p95 ?? -1)).slice(0, TOP_N),
    ...sampled,
    devices,
  };
}

interface RouteRows {
  totals: { route: string; requests: number; errors: number }[];
  histograms: { route: string; hist_idx: string; hist_cnt: string }[];
}

async function routeRows(db: Kysely<any>, from: Date, to: Date): Promise<RouteRows> {
  const where = sql`grain = 'hour' and bucket >= date_trunc('hour', ${from}::timestamptz, 'UTC') and bucket < ${to} and route <> ${ALL_ROUTES}`;
  const [totals, histograms] = await Promise.all([
    sql<{ route: string; requests: number; errors: number }>`
      select route, sum(requests)::int as requests, sum(s5)::int as errors from pgpulse.rollups where ${where} group by route`.execute(db),
    sql<{ route: string; hist_idx: string; hist_cnt: string }>`
      select route, array_to_string(hist_idx, ',') as hist_idx, array_to_string(hist_cnt, ',') as hist_cnt from pgpulse.rollups where ${where}`.execute(db),
  ]);
  return { totals: totals.rows, histograms: histograms.rows };
}

function routeStatsFrom(rows: RouteRows): RouteStat[] {
  const histograms = new Map<string, DenseHistogram>();
  for (const row of rows.histograms) addSparse(histogramOf(histograms, row.route), row.hist_idx, row.hist_cnt);
  return rows.totals.map((r) => ({
    route: r.route === '' ? null : r.route,
    requests: num(r.requests),
    errors: num(r.errors),
    ...percentiles(histograms.get(r.route)),
  }));
}

async function sampledTopLists(db: Kysely<any>, from: Date, to: Date, route: string | null, percent: number): Promise<Pick<Stats, 'topPaths' | 'referrers' | 'notFound'>> {
  const sample = percent >= 100 ? sql`` : sql`tablesample system (${percent})`;
  const scale = 100 / percent;
  const result = await sql<{ kind: 'path' | 'referer' | 'not_found'; key: string; n: number }>`
    with recent as materialized (
      select path, referer, status_code from pgpulse.request_logs ${sample}
      where inserted_at >= ${from} and inserted_at < ${to}${route === null ? sql`` : sql` and route = ${route}`})
    (select 'path' as kind, path as key, count(*)::int as n from recent group by path order by 3 desc, 2 limit ${TOP_N})
    union all
    (select 'referer', referer, count(*)::int from recent where referer is not null group by referer order by 3 desc, 2 limit ${TOP_N})
    union all
    (select 'not_found', path, count(*)::int from recent where status_code = 404 group by path order by 3 desc, 2 limit ${TOP_N})`.execute(db);
  const list = (kind: string): CountStat[] =>
    result.rows.filter((r) => r.kind === kind).map((r) => ({ key: r.key, requests: Math.round(num(r.n) * scale) }));
  return { topPaths: list('path'), referrers: list('referer'), notFound: list('not_found') };
}

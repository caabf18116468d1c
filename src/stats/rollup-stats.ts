import { sql, type Kysely, type Selectable } from 'kysely';
import { bucketSeconds } from './bucket-size.js';
import { REFERRER_HOST_SQL } from './stats-filters.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { filtersOf, referrerHostCondition } from './query-filters.js';
import { num, TOP_N, type CountStat, type RouteStat, type Stats } from './stats.js';
import type { StatsParams } from './stats-params.js';
import { hllEstimate, hllMerge, HLL_REGISTERS } from '../rollups/hyperloglog.js';
import { addSparse, densePercentiles, denseHistogram, type DenseHistogram } from '../rollups/latency-histogram.js';
import { routeCells, seriesCells, sketchCells } from './rollup-cells.js';
import { rollupCover } from './rollup-cover.js';
import type { PulseDatabase, RollupsTable } from '../store/database.js';

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

/**
 * One cell of {@link seriesCells} or {@link routeCells} as read by Node: the
 * route and counters of `pgpulse.rollups` (summed), the bucket start and the
 * merged histogram as text.
 */
type Cell = Omit<Selectable<RollupsTable>, 'grain' | 'bucket' | 'shard' | 'hist_idx' | 'hist_cnt'> & {
  /** Bucket start in epoch ms; `numeric` in Postgres, so a string from pg. */
  t: string | null;
  hist_idx: string | null;
  hist_cnt: string | null;
};

const counters = ['requests', 's1', 's2', 's3', 's4', 's5', 'duration_sum', 'desktop', 'mobile', 'tablet', 'bot'] as const satisfies readonly (keyof Cell)[];
type Sums = Record<(typeof counters)[number], number>;

/** Running sums and histogram of a group of cells (a chart bucket, a route, the whole range). */
class CellSum {
  readonly sums: Sums = { requests: 0, s1: 0, s2: 0, s3: 0, s4: 0, s5: 0, duration_sum: 0, desktop: 0, mobile: 0, tablet: 0, bot: 0 };
  readonly histogram = denseHistogram();

  add(cell: Cell): void {
    for (const key of counters) this.sums[key] += num(cell[key]);
    addSparse(this.histogram, cell.hist_idx ?? '', cell.hist_cnt ?? '');
  }

  /** Adds another group (e.g. every chart bucket into the range total). */
  merge(other: CellSum): void {
    for (const key of counters) this.sums[key] += other.sums[key];
    for (let i = 0; i < this.histogram.length; i++) this.histogram[i]! += other.histogram[i]!;
  }
}

function sumOf<K>(map: Map<K, CellSum>, key: K): CellSum {
  let sum = map.get(key);
  if (!sum) map.set(key, (sum = new CellSum()));
  return sum;
}

/**
 * Dashboard statistics from `pgpulse.rollups` and `pgpulse.visitor_sketches`:
 * minute rollups when the chart buckets are under an hour, hour rollups
 * otherwise. The range is read exactly (see {@link rollupCover}): whole
 * buckets from rollups, the partial ones at its edges from minute rollups and
 * raw rows, so counts equal those of raw rows. Percentiles come from
 * log-bucketed histograms (within 2% of exact), visitors from HyperLogLog
 * sketches (about ±3%); top paths, referrers and 404s from a sample of about
 * {@link SAMPLE_ROWS} raw rows of the range.
 */
export async function queryRollupStats(db: Kysely<PulseDatabase>, params: StatsParams, ownHosts: readonly string[] = []): Promise<Stats> {
  const { from, to, tz } = params;
  const route = params.route ?? null;
  const size = bucketSeconds(from, to);
  // Minute rollups only exist for all routes together; a route filter reads hour rollups.
  const grain = size < 3_600 && route === null ? 'minute' : 'hour';
  const seriesSize = Math.max(size, grain === 'hour' ? 3_600 : 60);
  const cover = rollupCover(from, to, grain, route === null);
  const t = bucketExpression(seriesSize, from, tz, sql`bucket`);

  const [buckets, cells, routes, sketches] = await Promise.all([
    sql<{ t: string }>`select extract(epoch from b.t) * 1000 as t from (${bucketSeries(seriesSize, from, to, tz)}) b order by 1`.execute(db),
    sql<Cell>`select extract(epoch from ${t}) * 1000 as t, c.* from (${seriesCells(cover, grain, route)}) c`.execute(db),
    route === null ? sql<Cell>`select null as t, c.* from (${routeCells(rollupCover(from, to, 'hour', false))}) c`.execute(db) : undefined,
    route === null
      ? sql<{ t: string; hll: Buffer }>`select extract(epoch from ${t}) * 1000 as t, hll from (${sketchCells(cover, grain)}) s`.execute(db)
      : undefined,
  ]);

  // Each cell's histogram text is parsed once, into its chart bucket; the total merges the buckets.
  const perBucket = new Map<number, CellSum>();
  for (const cell of cells.rows) sumOf(perBucket, Number(cell.t)).add(cell);
  const total = new CellSum();
  for (const bucket of perBucket.values()) total.merge(bucket);
  const sketchPerBucket = new Map<number, Uint8Array>();
  const allVisitors = new Uint8Array(HLL_REGISTERS);
  for (const { t: at, hll } of sketches?.rows ?? []) {
    const key = Number(at);
    let merged = sketchPerBucket.get(key);
    if (!merged) sketchPerBucket.set(key, (merged = new Uint8Array(HLL_REGISTERS)));
    hllMerge(merged, hll);
    hllMerge(allVisitors, hll);
  }
  const points = buckets.rows.map((r) => {
    const at = Number(r.t);
    const cell = perBucket.get(at);
    const sketch = sketchPerBucket.get(at);
    return {
      t: at,
      requests: cell?.sums.requests ?? 0,
      visitors: route === null ? (sketch ? hllEstimate(sketch) : 0) : null,
      errors: cell?.sums.s5 ?? 0,
      ...percentiles(cell?.histogram),
    };
  });

  const sums = total.sums;
  const requests = sums.requests;
  const percent = requests <= SAMPLE_ROWS ? 100 : Math.max(0.01, (SAMPLE_ROWS / requests) * 100);
  const sampled = await sampledTopLists(db, from, to, route, percent, ownHosts);
  const routeStats = routes ? routeStatsFrom(routes.rows) : [];
  const devices: CountStat[] = (['desktop', 'mobile', 'tablet', 'bot'] as const)
    .map((key) => ({ key, requests: sums[key] }))
    .filter((d) => d.requests > 0)
    .sort((a, b) => b.requests - a.requests);
  return {
    range: {
      from: from.toISOString(),
      to: to.toISOString(),
      tz,
      route,
      filters: filtersOf(params),
      bucketSeconds: seriesSize,
      source: 'rollups',
      sampledPercent: percent,
    },
    totals: {
      requests,
      visitors: route === null ? hllEstimate(allVisitors) : null,
      sessions: null,
      errorRate: requests ? sums.s5 / requests : 0,
      clientErrorRate: requests ? sums.s4 / requests : 0,
      avgMs: requests ? sums.duration_sum / requests : null,
      status: { '1xx': sums.s1, '2xx': sums.s2, '3xx': sums.s3, '4xx': sums.s4, '5xx': sums.s5 },
      ...percentiles(total.histogram),
    },
    series: points,
    topRoutes: routeStats
      .slice()
      .sort((a, b) => b.requests - a.requests || String(a.route).localeCompare(String(b.route)))
      .slice(0, TOP_N),
    slowestRoutes: routeStats
      .slice()
      .sort((a, b) => (b.p95 ?? -1) - (a.p95 ?? -1))
      .slice(0, TOP_N),
    ...sampled,
    devices,
  };
}

function routeStatsFrom(cells: readonly Cell[]): RouteStat[] {
  const perRoute = new Map<string, CellSum>();
  for (const cell of cells) sumOf(perRoute, cell.route).add(cell);
  return [...perRoute].map(([route, sum]) => ({
    route: route === '' ? null : route,
    requests: sum.sums.requests,
    errors: sum.sums.s5,
    ...percentiles(sum.histogram),
  }));
}

type SampledList = 'topPaths' | 'referrers' | 'notFound' | 'browsers' | 'operatingSystems' | 'countries' | 'refererHosts';

async function sampledTopLists(
  db: Kysely<PulseDatabase>,
  from: Date,
  to: Date,
  route: string | null,
  percent: number,
  ownHosts: readonly string[],
): Promise<Pick<Stats, SampledList>> {
  // A fixed seed picks the same pages on every refresh: they stay cached (a cold
  // sample of 30 days of 10M rows reads ~450 random pages, ~50-70 ms; warm ~17 ms)
  // and the top lists do not jitter between refreshes.
  const sample = percent >= 100 ? sql`` : sql`tablesample system (${percent}) repeatable (0)`;
  const scale = 100 / percent;
  const top = (kind: string, column: string, filter: string) =>
    sql`(select ${kind}::text as kind, ${sql.ref(column)} as key, count(*)::int as n from recent where ${sql.raw(filter)} group by 2 order by 3 desc, 2 limit ${TOP_N})`;
  const result = await sql<{ kind: string; key: string; n: number }>`
    with recent as materialized (
      select path, referer, status_code, browser, os, country, referer_host from pgpulse.request_logs ${sample}
      where inserted_at >= ${from} and inserted_at < ${to}${route === null ? sql`` : sql` and route = ${route}`})
    ${sql.join(
      [
        top('path', 'path', 'true'),
        sql`(select 'referer', ${REFERRER_HOST_SQL}, count(*)::int from recent where ${referrerHostCondition(ownHosts)} group by 2 order by 3 desc, 2 limit ${TOP_N})`,
        top('not_found', 'path', 'status_code = 404'),
        top('browser', 'browser', 'browser is not null'),
        top('os', 'os', 'os is not null'),
        top('country', 'country', 'country is not null'),
        top('referer_host', 'referer_host', 'referer_host is not null'),
      ],
      sql` union all `,
    )}`.execute(db);
  const list = (kind: string): CountStat[] =>
    result.rows.filter((r) => r.kind === kind).map((r) => ({ key: r.key, requests: Math.round(num(r.n) * scale), visitors: null }));
  return {
    topPaths: list('path'),
    referrers: list('referer'),
    notFound: list('not_found'),
    browsers: list('browser'),
    operatingSystems: list('os'),
    countries: list('country'),
    refererHosts: list('referer_host'),
  };
}

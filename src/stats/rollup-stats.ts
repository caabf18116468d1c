import { sql, type Kysely, type Selectable } from 'kysely';
import { bucketSeconds } from './bucket-size.js';
import { filterCondition, rollupSelection, type RollupSelection } from './stats-filters.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { filtersOf } from './query-filters.js';
import { num, TOP_N, type CountStat, type RouteStat, type SeriesPoint, type Stats } from './stats.js';
import type { StatsParams } from './stats-params.js';
import { hllEstimate, hllMerge, HLL_REGISTERS } from '../rollups/hyperloglog.js';
import { addSparse, densePercentiles, denseHistogram, type DenseHistogram } from '../rollups/latency-histogram.js';
import { dimensionTopCells, routeCells, seriesCells, sketchCells } from './rollup-cells.js';
import { ALL_ROUTES, type RollupDimension } from '../rollups/batch-rollup.js';
import type { RollupGrain } from '../schema/database.js';
import { rollupCover, type RollupCover } from './rollup-cover.js';
import type { PulseDatabase, RollupsTable } from '../schema/database.js';
import { samplePercent, SAMPLED_FILTERED, SAMPLED_UNFILTERED, sampledTopLists, type SampledLists } from './sampled-lists.js';

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
 * Dashboard statistics from `pgpulse.rollups`, `pgpulse.dimension_rollups` and
 * `pgpulse.visitor_sketches`, for no filter, a route filter or one filter on a
 * rollup dimension (browser, os, country, device, node; see `rollupSelection`):
 * minute rollups when the chart buckets are under an hour, hour rollups
 * otherwise. The range is read exactly (see {@link rollupCover}): whole
 * buckets from rollups, the partial ones at its edges from minute rollups and
 * raw rows, so counts equal those of raw rows. Percentiles come from
 * log-bucketed histograms (within 2% of exact), visitors from HyperLogLog
 * sketches (about ±3%; none with a filter). Without a filter, browsers, OS,
 * countries and nodes are exact from the dimension rollups (requests only);
 * top paths, referrers and 404s, and with a filter the other breakdowns and
 * routes, come from a sample of about `SAMPLE_ROWS` (sampled-lists.ts) raw rows of the range.
 */
export async function queryRollupStats(
  db: Kysely<PulseDatabase>,
  params: StatsParams,
  ownHosts: readonly string[] = [],
  options: { /** Estimate the lists rollups have no key for from a sample (default true); false leaves them empty for the caller. */ sample?: boolean } = {},
): Promise<Stats> {
  const { from, to, tz } = params;
  const selection = rollupSelection(params);
  if (selection === null) throw new RangeError('pgpulse stats: these filters need raw rows (see needsRawRows)');
  const plan = rollupPlan(params, selection);
  const read = await readRollups(db, params, plan);
  const { series, total, visitors } = chartSeries(read, plan.all);
  const requests = total.sums.requests;
  // The sample reads `percent` of all rows of the range and keeps the selected ones: about
  // SAMPLE_ROWS of them, reading at most about MAX_SAMPLE_SCAN_ROWS.
  const percent = samplePercent(requests, num(read.rangeRows?.[0]?.n ?? requests));
  const condition = plan.all ? sql`true` : filterCondition(params);
  const sampled: SampledLists =
    options.sample === false
      ? { topPaths: [], referrers: [], notFound: [], refererHosts: [] }
      : await sampledTopLists(db, from, to, condition, percent, ownHosts, plan.all ? SAMPLED_UNFILTERED : SAMPLED_FILTERED);
  const routeStats = read.routes ? routeStatsFrom(read.routes) : (sampled.routes ?? []);
  return {
    range: {
      from: from.toISOString(),
      to: to.toISOString(),
      tz,
      route: plan.route,
      filters: filtersOf(params),
      bucketSeconds: plan.seriesSize,
      source: 'rollups',
      sampledPercent: options.sample === false ? null : percent,
    },
    totals: totalsOf(total, plan.all ? hllEstimate(visitors) : null),
    series,
    topRoutes: routeStats
      .slice()
      .sort((a, b) => b.requests - a.requests || String(a.route).localeCompare(String(b.route)))
      .slice(0, TOP_N),
    slowestRoutes: routeStats
      .slice()
      .sort((a, b) => (b.p95 ?? -1) - (a.p95 ?? -1))
      .slice(0, TOP_N),
    topPaths: sampled.topPaths,
    referrers: sampled.referrers,
    notFound: sampled.notFound,
    refererHosts: sampled.refererHosts,
    ...breakdowns(selection, total.sums, read.dimensionTops ?? [], sampled),
  };
}

/** Which rollups a range reads: the grain, the chart bucket size and the cover of the range. */
interface RollupPlan {
  selection: RollupSelection;
  /** The route filter, null for none. */
  route: string | null;
  /** No filter: routes, visitors and breakdowns come from their own rollups. */
  all: boolean;
  grain: RollupGrain;
  /** Chart bucket size in seconds (at least the grain). */
  seriesSize: number;
  cover: RollupCover;
}

function rollupPlan(params: StatsParams, selection: RollupSelection): RollupPlan {
  const route = selection.kind === 'route' ? selection.route : null;
  const size = bucketSeconds(params.from, params.to);
  // Minute rollups exist for all routes together and per dimension value; a route filter reads hour rollups.
  const grain = size < 3_600 && route === null ? 'minute' : 'hour';
  const seriesSize = Math.max(size, grain === 'hour' ? 3_600 : 60);
  return { selection, route, all: selection.kind === 'all', grain, seriesSize, cover: rollupCover(params.from, params.to, grain, route === null) };
}

type DimensionTop = { dimension: RollupDimension; value: string; requests: number };

/** The rows a rollup range is answered from (routes, sketches and dimension tops without a filter; the range's row count with one). */
interface RollupRead {
  buckets: { t: string }[];
  cells: Cell[];
  routes: Cell[] | undefined;
  sketches: { t: string; hll: Buffer }[] | undefined;
  dimensionTops: DimensionTop[] | undefined;
  rangeRows: { n: string | null }[] | undefined;
}

async function readRollups(db: Kysely<PulseDatabase>, { from, to, tz }: StatsParams, plan: RollupPlan): Promise<RollupRead> {
  const { all, cover, grain, seriesSize, selection } = plan;
  const t = bucketExpression(seriesSize, from, tz, sql`bucket`);
  const rows = async <R>(query: { execute(db: Kysely<PulseDatabase>): Promise<{ rows: R[] }> }) => (await query.execute(db)).rows;
  const [buckets, cells, routes, sketches, dimensionTops, rangeRows] = await Promise.all([
    rows(sql<{ t: string }>`select extract(epoch from b.t) * 1000 as t from (${bucketSeries(seriesSize, from, to, tz)}) b order by 1`),
    rows(sql<Cell>`select extract(epoch from ${t}) * 1000 as t, c.* from (${seriesCells(cover, grain, selection)}) c`),
    all ? rows(sql<Cell>`select null as t, c.* from (${routeCells(rollupCover(from, to, 'hour', false))}) c`) : undefined,
    all ? rows(sql<{ t: string; hll: Buffer }>`select extract(epoch from ${t}) * 1000 as t, hll from (${sketchCells(cover, grain)}) s`) : undefined,
    all ? rows(sql<DimensionTop>`${dimensionTopCells(rollupCover(from, to, 'hour', true), BREAKDOWN_DIMENSIONS, TOP_N)}`) : undefined,
    // Rows of the range (whole hours around it), to bound the sample of a filtered read.
    all
      ? undefined
      : rows(sql<{ n: string | null }>`select sum(requests) as n from pgpulse.rollups where grain = 'hour' and route = ${ALL_ROUTES}
          and bucket >= date_trunc('hour', ${from}::timestamptz, 'UTC') and bucket < ${to}`),
  ]);
  return { buckets, cells, routes, sketches, dimensionTops, rangeRows };
}

/** The chart points, the range's sums and (without a filter) its merged visitor sketch. */
function chartSeries(read: RollupRead, all: boolean): { series: SeriesPoint[]; total: CellSum; visitors: Uint8Array } {
  // Each cell's histogram text is parsed once, into its chart bucket; the total merges the buckets.
  const perBucket = new Map<number, CellSum>();
  for (const cell of read.cells) sumOf(perBucket, Number(cell.t)).add(cell);
  const total = new CellSum();
  for (const bucket of perBucket.values()) total.merge(bucket);
  const sketchPerBucket = new Map<number, Uint8Array>();
  const visitors = new Uint8Array(HLL_REGISTERS);
  for (const { t: at, hll } of read.sketches ?? []) {
    const key = Number(at);
    let merged = sketchPerBucket.get(key);
    if (!merged) sketchPerBucket.set(key, (merged = new Uint8Array(HLL_REGISTERS)));
    hllMerge(merged, hll);
    hllMerge(visitors, hll);
  }
  const series = read.buckets.map((r) => {
    const at = Number(r.t);
    const cell = perBucket.get(at);
    const sketch = sketchPerBucket.get(at);
    return {
      t: at,
      requests: cell?.sums.requests ?? 0,
      visitors: all ? (sketch ? hllEstimate(sketch) : 0) : null,
      errors: cell?.sums.s5 ?? 0,
      ...percentiles(cell?.histogram),
    };
  });
  return { series, total, visitors };
}

function totalsOf(total: CellSum, visitors: number | null): Stats['totals'] {
  const { sums } = total;
  const requests = sums.requests;
  return {
    requests,
    visitors,
    sessions: null,
    errorRate: requests ? sums.s5 / requests : 0,
    clientErrorRate: requests ? sums.s4 / requests : 0,
    avgMs: requests ? sums.duration_sum / requests : null,
    status: { '1xx': sums.s1, '2xx': sums.s2, '3xx': sums.s3, '4xx': sums.s4, '5xx': sums.s5 },
    ...percentiles(total.histogram),
  };
}

/** Browsers, OS, countries, nodes and devices: exact without a filter, the filter's own value for its dimension, else sampled. */
function breakdowns(
  selection: RollupSelection,
  sums: Sums,
  dimensionTops: readonly DimensionTop[],
  sampled: SampledLists,
): Pick<Stats, 'browsers' | 'operatingSystems' | 'countries' | 'nodes' | 'devices'> {
  const requests = sums.requests;
  const only = (key: string): CountStat[] => (requests > 0 ? [{ key, requests, visitors: null }] : []);
  const breakdown = (dimension: RollupDimension, list: 'browsers' | 'operatingSystems' | 'countries' | 'nodes'): CountStat[] => {
    if (selection.kind === 'all')
      return dimensionTops.filter((r) => r.dimension === dimension).map((r) => ({ key: r.value, requests: num(r.requests), visitors: null }));
    if (selection.kind === 'dimension' && selection.dimension === dimension) return only(selection.value);
    return sampled[list] ?? [];
  };
  const devices: CountStat[] =
    selection.kind === 'dimension'
      ? selection.dimension === 'device'
        ? only(selection.value).map(({ key, requests: n }) => ({ key, requests: n }))
        : (sampled.devices ?? [])
      : (['desktop', 'mobile', 'tablet', 'bot'] as const)
          .map((key) => ({ key, requests: sums[key] }))
          .filter((d) => d.requests > 0)
          .sort((a, b) => b.requests - a.requests);
  return {
    browsers: breakdown('browser', 'browsers'),
    operatingSystems: breakdown('os', 'operatingSystems'),
    countries: breakdown('country', 'countries'),
    nodes: breakdown('node', 'nodes'),
    devices,
  };
}

/** Breakdowns the dimension rollups answer exactly when there is no filter (devices come from `pgpulse.rollups`). */
const BREAKDOWN_DIMENSIONS = ['browser', 'os', 'country', 'node'] as const satisfies readonly RollupDimension[];

function routeStatsFrom(cells: readonly Cell[]): RouteStat[] {
  const perRoute = new Map<string, CellSum>();
  for (const cell of cells) sumOf(perRoute, cell.route).add(cell);
  return [...perRoute].map(([route, sum]) => ({
    route: route === '' ? null : route,
    requests: sum.sums.requests,
    errors: sum.sums.s5,
    clientErrors: sum.sums.s4,
    ...percentiles(sum.histogram),
  }));
}

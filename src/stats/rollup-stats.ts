import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import { bucketSeconds } from './bucket-size.js';
import { filterCondition, REFERRER_HOST_SQL, rollupSelection } from './stats-filters.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { filtersOf, referrerHostCondition } from './query-filters.js';
import { num, TOP_N, type CountStat, type RouteStat, type Stats } from './stats.js';
import type { StatsParams } from './stats-params.js';
import { hllEstimate, hllMerge, HLL_REGISTERS } from '../rollups/hyperloglog.js';
import { addSparse, densePercentiles, denseHistogram, type DenseHistogram } from '../rollups/latency-histogram.js';
import { dimensionTopCells, routeCells, seriesCells, sketchCells } from './rollup-cells.js';
import { ALL_ROUTES, type RollupDimension } from '../rollups/batch-rollup.js';
import { rollupCover } from './rollup-cover.js';
import type { PulseDatabase, RollupsTable } from '../store/database.js';

/**
 * Top paths, referrers and 404s of a rollup range (and with a filter the other
 * breakdowns) are estimated from a
 * `TABLESAMPLE SYSTEM` sample of about this many raw rows (counts scaled up).
 */
export const SAMPLE_ROWS = 25_000;

/**
 * With a filter the sample reads more rows to keep about {@link SAMPLE_ROWS}
 * selected ones, but never more than about this many rows of the range: a rare
 * value gets fewer sampled rows instead of a scan of the whole range.
 */
export const MAX_SAMPLE_SCAN_ROWS = 250_000;

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
 * routes, come from a sample of about {@link SAMPLE_ROWS} raw rows of the range.
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
  const route = selection.kind === 'route' ? selection.route : null;
  const all = selection.kind === 'all';
  const size = bucketSeconds(from, to);
  // Minute rollups exist for all routes together and per dimension value; a route filter reads hour rollups.
  const grain = size < 3_600 && route === null ? 'minute' : 'hour';
  const seriesSize = Math.max(size, grain === 'hour' ? 3_600 : 60);
  const cover = rollupCover(from, to, grain, route === null);
  const t = bucketExpression(seriesSize, from, tz, sql`bucket`);

  const [buckets, cells, routes, sketches, dimensionTops, rangeRows] = await Promise.all([
    sql<{ t: string }>`select extract(epoch from b.t) * 1000 as t from (${bucketSeries(seriesSize, from, to, tz)}) b order by 1`.execute(db),
    sql<Cell>`select extract(epoch from ${t}) * 1000 as t, c.* from (${seriesCells(cover, grain, selection)}) c`.execute(db),
    all ? sql<Cell>`select null as t, c.* from (${routeCells(rollupCover(from, to, 'hour', false))}) c`.execute(db) : undefined,
    all ? sql<{ t: string; hll: Buffer }>`select extract(epoch from ${t}) * 1000 as t, hll from (${sketchCells(cover, grain)}) s`.execute(db) : undefined,
    all
      ? sql<{
          dimension: RollupDimension;
          value: string;
          requests: number;
        }>`${dimensionTopCells(rollupCover(from, to, 'hour', true), BREAKDOWN_DIMENSIONS, TOP_N)}`.execute(db)
      : undefined,
    // Rows of the range (whole hours around it), to bound the sample of a filtered read.
    all
      ? undefined
      : sql<{ n: string | null }>`select sum(requests) as n from pgpulse.rollups where grain = 'hour' and route = ${ALL_ROUTES}
          and bucket >= date_trunc('hour', ${from}::timestamptz, 'UTC') and bucket < ${to}`.execute(db),
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
      visitors: all ? (sketch ? hllEstimate(sketch) : 0) : null,
      errors: cell?.sums.s5 ?? 0,
      ...percentiles(cell?.histogram),
    };
  });

  const sums = total.sums;
  const requests = sums.requests;
  // The sample reads `percent` of all rows of the range and keeps the selected ones: about
  // SAMPLE_ROWS of them, reading at most about MAX_SAMPLE_SCAN_ROWS.
  const scanned = num(rangeRows?.rows[0]?.n ?? requests);
  const share = Math.min(requests <= SAMPLE_ROWS ? 1 : SAMPLE_ROWS / requests, scanned <= MAX_SAMPLE_SCAN_ROWS ? 1 : MAX_SAMPLE_SCAN_ROWS / scanned);
  const percent = Math.max(0.01, share * 100);
  const condition = all ? sql`true` : filterCondition(params);
  const sampled: SampledLists =
    options.sample === false
      ? { topPaths: [], referrers: [], notFound: [], refererHosts: [] }
      : await sampledTopLists(db, from, to, condition, percent, ownHosts, all ? SAMPLED_UNFILTERED : SAMPLED_FILTERED);
  const routeStats = routes ? routeStatsFrom(routes.rows) : (sampled.routes ?? []);
  const only = (key: string): CountStat[] => (requests > 0 ? [{ key, requests, visitors: null }] : []);
  const exactTop = (dimension: RollupDimension): CountStat[] =>
    (dimensionTops?.rows ?? []).filter((r) => r.dimension === dimension).map((r) => ({ key: r.value, requests: num(r.requests), visitors: null }));
  const breakdown = (dimension: RollupDimension, list: keyof Pick<Stats, 'browsers' | 'operatingSystems' | 'countries' | 'nodes'>): CountStat[] => {
    if (all) return exactTop(dimension);
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
    range: {
      from: from.toISOString(),
      to: to.toISOString(),
      tz,
      route,
      filters: filtersOf(params),
      bucketSeconds: seriesSize,
      source: 'rollups',
      sampledPercent: options.sample === false ? null : percent,
    },
    totals: {
      requests,
      visitors: all ? hllEstimate(allVisitors) : null,
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
    topPaths: sampled.topPaths,
    referrers: sampled.referrers,
    notFound: sampled.notFound,
    refererHosts: sampled.refererHosts,
    browsers: breakdown('browser', 'browsers'),
    operatingSystems: breakdown('os', 'operatingSystems'),
    countries: breakdown('country', 'countries'),
    nodes: breakdown('node', 'nodes'),
    devices,
  };
}

/**
 * Top paths and 404s of a filtered range, estimated from a sample of its rows
 * (what the cube cannot key: it has no path dimension). `rangeRows` are all
 * rows of the range, `selected` those the filters select. Answers the lists,
 * the sampled percentage and the margin of the counts shown: the largest
 * 95% margin of error of any of them (1.96 standard errors of a count scaled
 * up from a Bernoulli sample of rows, √(n(1−p)/p)), 0 when nothing was sampled.
 */
export async function sampledPathLists(
  db: Kysely<PulseDatabase>,
  params: StatsParams,
  rangeRows: number,
  selected: number,
): Promise<{ topPaths: CountStat[]; notFound: CountStat[]; percent: number; margin: number }> {
  const share = Math.min(selected <= SAMPLE_ROWS ? 1 : SAMPLE_ROWS / selected, rangeRows <= MAX_SAMPLE_SCAN_ROWS ? 1 : MAX_SAMPLE_SCAN_ROWS / rangeRows);
  const percent = Math.max(0.01, share * 100);
  const sampled = await sampledTopLists(
    db,
    params.from,
    params.to,
    filterCondition(params),
    percent,
    [],
    ['topPaths', 'notFound', 'referrers', 'refererHosts'],
  );
  const p = percent / 100;
  const largest = Math.max(0, ...[...sampled.topPaths, ...sampled.notFound].map((r) => r.requests));
  const margin = p >= 1 ? 0 : Math.ceil(1.96 * Math.sqrt((largest * (1 - p)) / p));
  return { topPaths: sampled.topPaths, notFound: sampled.notFound, percent, margin };
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

/** Top lists a sample answers: without a filter only those rollups have no key for; with one, every breakdown (and routes). */
const SAMPLED_UNFILTERED = ['topPaths', 'referrers', 'notFound', 'refererHosts'] as const;
const SAMPLED_FILTERED = [...SAMPLED_UNFILTERED, 'browsers', 'operatingSystems', 'countries', 'nodes', 'devices', 'routes'] as const;
type SampledList = (typeof SAMPLED_FILTERED)[number];
type SampledLists = Pick<Stats, (typeof SAMPLED_UNFILTERED)[number]> & Partial<Pick<Stats, Exclude<SampledList, 'routes'>>> & { routes?: RouteStat[] };

/** The sample of the range: `percent` of its rows' pages, the same pages on every call. */
function sampleOf(from: Date, to: Date, condition: RawBuilder<unknown>, percent: number, columns: RawBuilder<unknown>): RawBuilder<unknown> {
  // A fixed seed picks the same pages on every refresh: they stay cached (a cold
  // sample of 30 days of 10M rows reads ~450 random pages, ~50-70 ms; warm ~17 ms)
  // and the top lists do not jitter between refreshes.
  const sample = percent >= 100 ? sql`` : sql`tablesample system (${percent}) repeatable (0)`;
  return sql`select ${columns} from pgpulse.request_logs ${sample} where inserted_at >= ${from} and inserted_at < ${to} and ${condition}`;
}

/**
 * Top lists of the sampled rows, in one scan of the sample: counts scaled up;
 * `routes` also carries errors and the percentiles of the sampled durations.
 */
async function sampledTopLists(
  db: Kysely<PulseDatabase>,
  from: Date,
  to: Date,
  condition: RawBuilder<unknown>,
  percent: number,
  ownHosts: readonly string[],
  lists: readonly SampledList[],
): Promise<SampledLists> {
  const scale = 100 / percent;
  const none = sql`null::int as errors, null::float8[] as pct`;
  const top = (kind: string, column: string, filter: string) =>
    sql`(select ${kind}::text as kind, ${sql.ref(column)}::text as key, count(*)::int as n, ${none} from recent where ${sql.raw(filter)} group by 2 order by 3 desc, 2 limit ${TOP_N})`;
  const queries: Record<SampledList, RawBuilder<unknown>> = {
    topPaths: top('topPaths', 'path', 'true'),
    referrers: sql`(select 'referrers', ${REFERRER_HOST_SQL}, count(*)::int, ${none} from recent where ${referrerHostCondition(ownHosts)} group by 2 order by 3 desc, 2 limit ${TOP_N})`,
    notFound: top('notFound', 'path', 'status_code = 404'),
    refererHosts: top('refererHosts', 'referer_host', 'referer_host is not null'),
    browsers: top('browsers', 'browser', 'browser is not null'),
    operatingSystems: top('operatingSystems', 'os', 'os is not null'),
    countries: top('countries', 'country', 'country is not null'),
    nodes: top('nodes', 'node_id', 'true'),
    devices: top('devices', 'device_type', 'true'),
    // Every route of the sample: callers sort them by requests and by p95.
    routes: sql`(select 'routes', route, count(*)::int, count(*) filter (where status_code >= 500)::int,
      percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by duration_ms) from recent group by 2)`,
  };
  const columns = sql`path, referer, status_code, browser, os, country, referer_host, node_id, device_type, route, duration_ms`;
  const result = await sql<{ kind: SampledList; key: string; n: number; errors: number | null; pct: (number | null)[] | null }>`
    with recent as materialized (${sampleOf(from, to, condition, percent, columns)})
    ${sql.join(
      lists.map((list) => queries[list]),
      sql` union all `,
    )}`.execute(db);
  const out: Partial<Record<SampledList, (CountStat | RouteStat)[]>> = {};
  for (const list of lists) out[list] = [];
  for (const r of result.rows) {
    const requests = Math.round(num(r.n) * scale);
    let entry: CountStat | RouteStat;
    if (r.kind === 'routes') {
      entry = { route: r.key, requests, errors: Math.round(num(r.errors) * scale), p50: r.pct?.[0] ?? null, p95: r.pct?.[1] ?? null, p99: r.pct?.[2] ?? null };
    } else if (r.kind === 'devices') {
      entry = { key: r.key, requests }; // devices carry requests only, as everywhere else
    } else {
      entry = { key: r.key, requests, visitors: null };
    }
    out[r.kind]!.push(entry);
  }
  return out as SampledLists;
}

import { sql, type Kysely } from 'kysely';
import { densePercentiles, denseHistogram, type DenseHistogram } from '../rollups/latency-histogram.js';
import type { PulseDatabase } from '../schema/database.js';
import { bucketSeconds } from './bucket-size.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { breakdownQuery, coverCells, coverValues, referrerKey, seriesQuery, topKeysQuery, valuesQuery, type Breakdown } from './cube-cells.js';
import { cubeCover, type CubeCover } from './cube-cover.js';
import { filtersOf } from './query-filters.js';
import { hasFilters } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';
import { num, TOP_N, type CountStat, type Percentiles, type RouteStat, type Stats } from './stats.js';

const QUANTILES = [0.5, 0.95, 0.99] as const;

function percentiles(histogram: DenseHistogram | undefined): Percentiles {
  if (!histogram) return { p50: null, p95: null, p99: null };
  const [p50, p95, p99] = densePercentiles(histogram, QUANTILES);
  return { p50: p50 ?? null, p95: p95 ?? null, p99: p99 ?? null };
}

function histogramOf<K>(map: Map<K, DenseHistogram>, key: K): DenseHistogram {
  let histogram = map.get(key);
  if (!histogram) map.set(key, (histogram = denseHistogram()));
  return histogram;
}

interface BreakdownRow {
  part: 'g' | 'h' | 'v';
  kind: Breakdown;
  key: string;
  requests: string | null;
  errors: string | null;
  client_errors: string | null;
  duration_sum: number | null;
  bytes_sum: number | null;
  i: number | null;
  n: string | null;
  visitors: string | null;
  sampled: boolean | null;
}

interface SeriesRow {
  part: 's' | 'h' | 'v';
  t: string;
  requests: string | null;
  errors: string | null;
  bytes_sum: number | null;
  i: number | null;
  n: string | null;
  visitors: string | null;
}

/** The trusted buckets of the range, from `trustedBuckets` (see cube-cover.ts). */
export interface CubeTrust {
  days: Set<number>;
  hours: Set<number>;
}

/**
 * Dashboard statistics from the request cube (`pgpulse.cube_cells`): any
 * combination of filters on route, status (class or code), device, browser,
 * OS, country, node and referrer host. Counts, status codes, bytes and the
 * breakdowns are exact (trusted buckets from the cube, the rest from raw rows
 * with the same aggregate definitions); percentiles come from the log-bucketed
 * histograms (within 2%); visitors are exact distinct hashes, or a 1/16 hash
 * sample for sets of more than `EXACT_VISITOR_HASHES` hashes. Top paths, 404s
 * and referrer URLs are exact within `range.topKeysBound` without filters;
 * with filters they are left to the caller (`sampledLists`).
 */
export async function queryCubeStats(
  db: Kysely<PulseDatabase>,
  params: StatsParams,
  trust: CubeTrust,
  ownHosts: readonly string[],
  /** `hourly`: chart buckets of an hour or more; `daily`: UTC days (long ranges: day cells only); `none`: the caller adds the series. */
  series: 'hourly' | 'daily' | 'none',
): Promise<Stats> {
  const { from, to, tz } = params;
  const seriesSize = series === 'daily' ? 86_400 : Math.max(3_600, bucketSeconds(from, to));
  const wide = cubeCover(from, to, trust, true);
  const filtered = hasFilters(params);
  const t = series === 'daily' ? sql`date_trunc('day', bucket, 'UTC')` : bucketExpression(seriesSize, from, tz, sql`bucket`);
  const seriesCells = series === 'daily' ? coverCells(wide, params) : coverCells(cubeCover(from, to, trust, false), params);
  const bucketRows =
    series === 'daily'
      ? sql<{ t: string }>`select extract(epoch from d) * 1000 as t
          from generate_series(date_trunc('day', ${from}::timestamptz, 'UTC'), ${to}::timestamptz - interval '1 microsecond', interval '1 day') d`
      : sql<{ t: string }>`select extract(epoch from b.t) * 1000 as t from (${bucketSeries(seriesSize, from, to, tz)}) b order by 1`;
  const [breakdown, points, buckets, tops] = await Promise.all([
    // Without filters, value rows (one per value and bucket) answer totals, codes and referrers; the caller adds the rest.
    filtered
      ? sql<BreakdownRow>`${breakdownQuery(coverCells(wide, params), TOP_N, ownHosts)}`.execute(db)
      : sql<BreakdownRow>`${valuesQuery(coverValues(wide), TOP_N, ownHosts)}`.execute(db),
    series === 'none' ? undefined : sql<SeriesRow>`${seriesQuery(seriesCells, t)}`.execute(db),
    series === 'none' ? undefined : bucketRows.execute(db),
    filtered ? undefined : sql<{ list: string; key: string; requests: string; bound: string }>`${topKeysQuery(wide, TOP_N)}`.execute(db),
  ]);
  const stats = assemble(params, seriesSize, wide, breakdown.rows, points?.rows ?? [], buckets?.rows ?? []);
  if (tops) {
    const list = (name: string): CountStat[] =>
      tops.rows.filter((r) => r.list === name).map((r) => ({ key: r.key, requests: num(r.requests), visitors: null }));
    stats.topPaths = list('path');
    stats.notFound = list('not_found');
    stats.referrerUrls = list('referrer_url');
    stats.range.topKeysBound = tops.rows.reduce((bound, r) => Math.max(bound, num(r.bound)), 0);
  }
  return stats;
}

function assemble(params: StatsParams, seriesSize: number, cover: CubeCover, rows: BreakdownRow[], seriesRows: SeriesRow[], buckets: { t: string }[]): Stats {
  const { from, to, tz } = params;
  const groups = new Map<string, BreakdownRow>();
  const visitors = new Map<string, number>();
  const histograms = new Map<string, DenseHistogram>();
  let visitorsSampled = false;
  for (const row of rows) {
    const id = `${row.kind}\u0000${row.key}`;
    if (row.part === 'g') groups.set(id, row);
    else if (row.part === 'v') {
      visitors.set(id, num(row.visitors));
      visitorsSampled ||= row.sampled === true;
    } else histogramOf(histograms, id)[row.i!]! += num(row.n);
  }
  const of = (kind: Breakdown) =>
    [...groups.values()].filter((g) => g.kind === kind).sort((a, b) => num(b.requests) - num(a.requests) || a.key.localeCompare(b.key));
  // Values count visitors only when the breakdown's budget allowed it (see VALUE_VISITOR_HASHES): null otherwise.
  const valuesCounted = [...visitors.keys()].some((id) => !id.startsWith('total\u0000'));
  const visitorsOf = (kind: Breakdown, key: string) => visitors.get(`${kind}\u0000${key}`) ?? (kind === 'total' || valuesCounted ? 0 : null);
  const list = (kind: Breakdown, keyOf: (key: string) => string | null = (key) => key): CountStat[] =>
    of(kind)
      .slice(0, TOP_N)
      .map((g) => ({ key: keyOf(g.key), requests: num(g.requests), visitors: visitorsOf(kind, g.key) }));
  const total = groups.get('total\u0000');
  const requests = num(total?.requests);
  const routes: RouteStat[] = of('route').map((g) => ({
    route: g.key === '' ? null : g.key,
    requests: num(g.requests),
    errors: num(g.errors),
    clientErrors: num(g.client_errors),
    bytes: num(g.bytes_sum),
    ...percentiles(histograms.get(`route\u0000${g.key}`)),
  }));
  const codes = of('status');
  const statusClass = (digit: number) =>
    codes.filter((c) => Math.min(5, Math.max(1, Math.floor(Number(c.key) / 100))) === digit).reduce((sum, c) => sum + num(c.requests), 0);
  const bytes = num(total?.bytes_sum);
  const seconds = (to.getTime() - from.getTime()) / 1000;
  return {
    range: {
      from: from.toISOString(),
      to: to.toISOString(),
      tz,
      route: params.route ?? null,
      filters: filtersOf(params),
      bucketSeconds: seriesSize,
      source: 'cube',
      sampledPercent: null,
      topKeysBound: null,
      visitorsSampled,
      unbuiltHours: cover.unbuiltHours,
    },
    totals: {
      requests,
      visitors: visitorsOf('total', '') ?? 0,
      sessions: null,
      errorRate: requests ? num(total?.errors) / requests : 0,
      clientErrorRate: requests ? num(total?.client_errors) / requests : 0,
      avgMs: requests ? num(total?.duration_sum) / requests : null,
      status: { '1xx': statusClass(1), '2xx': statusClass(2), '3xx': statusClass(3), '4xx': statusClass(4), '5xx': statusClass(5) },
      bytes,
      bytesPerSecond: seconds > 0 ? bytes / seconds : 0,
      ...percentiles(histograms.get('total\u0000')),
    },
    series: seriesPoints(seriesRows, buckets),
    topRoutes: routes.slice(0, TOP_N),
    slowestRoutes: routes
      .slice()
      .sort((a, b) => (b.p95 ?? -1) - (a.p95 ?? -1) || String(a.route).localeCompare(String(b.route)))
      .slice(0, TOP_N),
    topPaths: [],
    notFound: [],
    referrers: list('referrer', referrerKey),
    refererHosts: list('referrer', referrerKey).filter((r) => r.key !== null),
    devices: list('device'),
    browsers: list('browser'),
    operatingSystems: list('os'),
    countries: list('country'),
    nodes: list('node'),
    statusCodes: codes.map((g) => ({ key: g.key, requests: num(g.requests), visitors: visitorsOf('status', g.key) })),
  };
}

function seriesPoints(rows: SeriesRow[], buckets: { t: string }[]): Stats['series'] {
  const sums = new Map<number, SeriesRow>();
  const visitors = new Map<number, number>();
  const histograms = new Map<number, DenseHistogram>();
  for (const row of rows) {
    const at = Number(row.t);
    if (row.part === 's') sums.set(at, row);
    else if (row.part === 'v') visitors.set(at, num(row.visitors));
    else histogramOf(histograms, at)[row.i!]! += num(row.n);
  }
  return buckets.map(({ t }) => {
    const at = Number(t);
    const sum = sums.get(at);
    return {
      t: at,
      requests: num(sum?.requests),
      visitors: visitors.get(at) ?? 0,
      errors: num(sum?.errors),
      bytes: num(sum?.bytes_sum),
      ...percentiles(histograms.get(at)),
    };
  });
}

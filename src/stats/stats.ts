import type { StatsFilters } from './stats-filters.js';

/** What the stats read model answers (`GET /api/stats`): raw-row and rollup strategies answer the same shape. */

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface StatsTotals extends Percentiles {
  requests: number;
  /** Unique visitors (an HLL estimate, ±3%, when answered from rollups; null there with a filter). */
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
  /** Null when answered from rollups with a filter. */
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
  /** Distinct visitors, exact from raw rows; null when answered from rollups (dimension rollups count requests only; other lists come from a sample). */
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
    /**
     * When answered from rollups, top paths, referrers, 404s and referrer hosts
     * (and with a filter, routes and the other breakdowns) are estimated from a
     * sample of this percentage of rows; without a filter browsers, OS,
     * countries, devices and nodes are exact.
     */
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
  /** Nodes (`node_id` column), requests only. */
  nodes: CountStat[];
  /**
   * Only with `attributeKey`: the values of that custom attribute (as text;
   * rows without it left out), with requests and distinct visitors.
   */
  attributes?: { key: string; values: CountStat[] };
}

/** Rows of a top list. */
export const TOP_N = 10;

/** A number from a Postgres aggregate (null, undefined, numeric text or a number); 0 when missing. */
export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

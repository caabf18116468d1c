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
  /** Response bytes of the range (`response_bytes`, unknown sizes count 0); absent when the source does not keep them. */
  bytes?: number;
  /** {@link bytes} per second of the range. */
  bytesPerSecond?: number;
}

export interface SeriesPoint extends Percentiles {
  /** Bucket start, epoch ms. */
  t: number;
  requests: number;
  /** Null when answered from rollups with a filter. */
  visitors: number | null;
  errors: number;
  /** Response bytes of the bucket, where the source keeps them. */
  bytes?: number;
}

export interface RouteStat extends Percentiles {
  route: string | null;
  requests: number;
  /** 5xx answers. */
  errors: number;
  /** 4xx answers, where the source keeps exact codes. */
  clientErrors?: number;
  /** Response bytes, where the source keeps them. */
  bytes?: number;
}

export interface CountStat {
  key: string | null;
  requests: number;
  /** Distinct visitors, exact from raw rows; null when answered from rollups (dimension rollups count requests only; other lists come from a sample). */
  visitors?: number | null;
}

/** One consumer of a range (`Stats.consumers`): who called, how much, how well. */
export interface ConsumerStat extends Percentiles {
  /** `consumer_id`, as the `consumer` capture option returned it. */
  id: string;
  /** The name of its latest request in the range, null when the app gave none. */
  name: string | null;
  /** The group of its latest request in the range, null when the app gave none. */
  group: string | null;
  requests: number;
  /** 5xx answers. */
  errors: number;
  /** 4xx answers. */
  clientErrors: number;
  /** Response bytes (unknown sizes count 0). */
  bytes: number;
  /** Mean duration, ms. */
  avgMs: number;
  /** Its latest request in the range, ISO 8601. */
  lastSeen: string;
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
    /**
     * `raw` rows (short ranges, path and attribute filters), `cube` (the request
     * cube, exact: see docs/ARCHITECTURE.md), or `rollups` (the writer's
     * rollups, while the cube is not built for the range yet).
     */
    source: 'raw' | 'rollups' | 'cube';
    /**
     * From the cube: the most requests any count of top paths, 404s and
     * referrer URLs may miss (keys outside a bucket's kept top keys); 0 when
     * exact; null for other sources.
     */
    topKeysBound?: number | null;
    /** Some visitor counts are estimated from a 1/16 sample of visitor hashes (standard error √15/√n; large sets only). */
    visitorsSampled?: boolean;
    /** Whole hours of the range read from raw rows because the cube had not built them yet. */
    unbuiltHours?: number;
    /**
     * When answered from rollups, top paths, referrers, 404s and referrer hosts
     * (and with a filter, routes and the other breakdowns) are estimated from a
     * sample of this percentage of rows; without a filter browsers, OS,
     * countries, devices and nodes are exact.
     */
    sampledPercent: number | null;
    /**
     * From the cube with filters, when top paths and 404s come from a sample
     * (`sampledPercent`): a margin in requests that every count they show is
     * within at once, with 95% confidence; null when they are exact. The
     * sample keeps whole pages, so each count's standard error is estimated
     * from the sampled pages' counts of its key, √((1−p)Σy²)/p, and the margin
     * is the largest of them times the Bonferroni quantile over the m counts
     * shown, Φ⁻¹(1 − 0.025/m) (3.02 for 20 counts).
     */
    sampledMargin?: number | null;
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
  /** Nodes (`node_id` column). */
  nodes: CountStat[];
  /** Requests per exact status code, most frequent first (every code). */
  statusCodes?: CountStat[];
  /** Top referrer URLs (`referer`), where the source keeps them. */
  referrerUrls?: CountStat[];
  /**
   * The consumers of the range under the filters (the `consumer` capture
   * option), most requests first (at most 20); set by `queryStats`.
   */
  consumers?: ConsumerStat[];
  /** Distinct consumers of the range under the filters; set by `queryStats`. */
  consumerCount?: number;
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

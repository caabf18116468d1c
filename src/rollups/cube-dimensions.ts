import type { RequestLog } from '../schema/request-log.js';

/**
 * Host of a referer URL in SQL: lower-cased, without `www.`, port or path.
 * Hand-written as a regular expression because it must run inside Postgres;
 * {@link refererHost} is the same rule in JS.
 */
export const REFERRER_HOST_EXPRESSION = `regexp_replace(lower(substring(referer from '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#@]+)')), '^www\\.', '')`;

/** {@link REFERRER_HOST_EXPRESSION} in JS: null when the referer has no host. */
export function refererHost(referer: string | null): string | null {
  if (referer === null) return null;
  const host = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/:?#@]+)/.exec(referer)?.[1];
  return host === undefined ? null : host.toLowerCase().replace(/^www\./, '');
}

/** Referrer key of a row that has a referer without a host (`android-app:…`, a relative URL). */
export const REFERRER_WITHOUT_HOST = '\u0001';

/** One dimension of the cube: a column of `pgpulse.cube_keys`, its value for a raw row in SQL and in JS. */
export interface CubeDimension {
  /** Column of `pgpulse.cube_keys`. */
  column: string;
  /** The row's value (never null: '' stands for none), in SQL over `pgpulse.request_logs` columns. */
  rowSql: string;
  rowValue: (row: RequestLog) => string | number;
}

/**
 * The low-cardinality dimensions pre-aggregated together in the cube
 * (`pgpulse.cube_keys`, in column order). Adding one: an entry here, a
 * migration adding the column to `pgpulse.cube_keys` (and its unique key), and
 * the filter in `stats/stats-filters.ts`; the builder rebuilds old buckets.
 */
export const cubeDimensions = {
  route: { column: 'route', rowSql: `coalesce(route, '')`, rowValue: (row) => row.route ?? '' },
  status: { column: 'status_code', rowSql: 'status_code', rowValue: (row) => row.status_code },
  device: { column: 'device', rowSql: 'device_type', rowValue: (row) => row.device_type },
  browser: { column: 'browser', rowSql: `coalesce(browser, '')`, rowValue: (row) => row.browser ?? '' },
  os: { column: 'os', rowSql: `coalesce(os, '')`, rowValue: (row) => row.os ?? '' },
  country: { column: 'country', rowSql: `coalesce(country, '')`, rowValue: (row) => row.country ?? '' },
  node: { column: 'node', rowSql: 'node_id', rowValue: (row) => row.node_id },
  referrer: {
    column: 'referrer',
    rowSql: `coalesce(${REFERRER_HOST_EXPRESSION}, case when referer is null then '' else chr(1) end)`,
    rowValue: (row) => refererHost(row.referer) ?? (row.referer === null ? '' : REFERRER_WITHOUT_HOST),
  },
} as const satisfies Record<string, CubeDimension>;

export type CubeDimensionName = keyof typeof cubeDimensions;
export const cubeDimensionNames = Object.keys(cubeDimensions) as CubeDimensionName[];
/** `pgpulse.cube_keys` columns of the dimensions, in order. */
export const cubeKeyColumns: readonly string[] = cubeDimensionNames.map((name) => cubeDimensions[name].column);

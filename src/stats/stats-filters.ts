import { sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import { deviceTypes } from '../request-log.js';

/** Status classes a filter can select. */
export const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Referrer filter value for requests without a referrer. */
export const DIRECT = '(direct)';

/**
 * Filters the page and `GET /api/stats`/`/api/export` share, one value each;
 * several combine with AND. `route=` (empty) selects rows without a route.
 */
export const filterShape = {
  route: z.string().max(2048).optional(),
  path: z.string().min(1).max(4096).optional(),
  /** Referrer host, e.g. `news.ycombinator.com`, or `(direct)` for none. */
  referrer: z.string().min(1).max(255).toLowerCase().optional(),
  device: z.enum(deviceTypes).optional(),
  status: z.enum(statusClasses).optional(),
  node: z.string().min(1).max(200).optional(),
};

export type StatsFilters = { [K in keyof typeof filterShape]?: z.output<(typeof filterShape)[K]> };

/** Filter keys, in the order chips show them. */
export const filterKeys = Object.keys(filterShape) as (keyof StatsFilters)[];

/**
 * Host of a referer URL in SQL: lower-cased, without `www.`, port or path.
 * Hand-written as a regular expression because it must run inside Postgres.
 */
export const REFERRER_HOST_SQL = sql`regexp_replace(lower(substring(referer from '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#@]+)')), '^www\\.', '')`;

/** Filters other than `route` cannot be answered from rollups: their queries read raw rows. */
export function needsRawRows(filters: StatsFilters): boolean {
  return filterKeys.some((key) => key !== 'route' && filters[key] !== undefined);
}

/** Whether any filter is set. */
export function hasFilters(filters: StatsFilters): boolean {
  return filterKeys.some((key) => filters[key] !== undefined);
}

/** The SQL condition of the filters (`true` when none); every value is a bind parameter. */
export function filterCondition(filters: StatsFilters): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (filters.route !== undefined) parts.push(filters.route === '' ? sql`route is null` : sql`route = ${filters.route}`);
  if (filters.path !== undefined) parts.push(sql`path = ${filters.path}`);
  if (filters.referrer !== undefined)
    parts.push(filters.referrer === DIRECT ? sql`referer is null` : sql`${REFERRER_HOST_SQL} = ${filters.referrer.replace(/^www\./, '')}`);
  if (filters.device !== undefined) parts.push(sql`device_type = ${filters.device}`);
  if (filters.status !== undefined) {
    const low = Number(filters.status[0]) * 100;
    parts.push(sql`status_code between ${low} and ${low + 99}`);
  }
  if (filters.node !== undefined) parts.push(sql`node_id = ${filters.node}`);
  return parts.length === 0 ? sql`true` : sql.join(parts, sql` and `);
}

import { sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import { attributeLimits, consumerLimits, deviceTypes } from '../schema/request-log.js';
import { rollupDimensions, type RollupDimension } from '../rollups/batch-rollup.js';
import { REFERRER_HOST_EXPRESSION } from '../rollups/cube-dimensions.js';

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
  /** A status class (`5xx`) or an exact code (`404`). */
  status: z
    .string()
    .regex(/^(?:[1-5]xx|[1-9]\d\d)$/, 'must be a status class such as 5xx or a code such as 404')
    .optional(),
  node: z.string().min(1).max(200).optional(),
  /** Browser family as stored, e.g. `Chrome`. */
  browser: z.string().min(1).max(32).optional(),
  /** OS family as stored, e.g. `macOS`. */
  os: z.string().min(1).max(32).optional(),
  /** ISO 3166-1 alpha-2 country code (any case), e.g. `de`. */
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code such as DE')
    .transform((code) => code.toUpperCase())
    .optional(),
  /**
   * One custom attribute, `key:value` (split at the first `:`), e.g. `plan:pro`:
   * rows whose `attributes` hold that value as a string, or as the number or
   * boolean it spells (`seats:3`, `trial:true`). Served by the GIN index on
   * `attributes`.
   */
  attribute: z
    .string()
    .max(64 + 1 + attributeLimits.maxStringLength)
    .refine((filter) => attributeFilterPattern.test(filter), { error: 'must be key:value with an attribute key such as plan (e.g. plan:pro)' })
    .optional(),
  /**
   * A consumer id (`consumer_id`, what the `consumer` capture option
   * returned). Answered from the consumer cells (`pgpulse.consumer_cells`)
   * alone or with any filter the cube answers.
   */
  consumer: z.string().min(1).max(consumerLimits.maxIdLength).optional(),
  /**
   * One visitor (`visitor_id`, the daily-salted hash) or one session
   * (`session_id`), e.g. from a request's detail view. Read from raw rows
   * (the cube and rollups keep neither).
   */
  visitor: z.string().min(1).max(128).optional(),
  session: z.string().min(1).max(128).optional(),
};

export type StatsFilters = { [K in keyof typeof filterShape]?: z.output<(typeof filterShape)[K]> };

/** An attribute filter: a key as attributes allow, `:`, then the value (at most 256 characters). */
const attributeFilterPattern = new RegExp(`^${attributeLimits.key.source.slice(1, -1)}:[^]{0,${attributeLimits.maxStringLength}}$`);

/**
 * The attribute key of the `attribute` filter and the values a row's
 * attribute may hold to match: the value as a string, and as a number or
 * boolean when it spells one.
 */
export function attributeFilterValues(filter: string): { key: string; values: (string | number | boolean)[] } {
  const colon = filter.indexOf(':');
  const key = filter.slice(0, colon);
  const value = filter.slice(colon + 1);
  const values: (string | number | boolean)[] = [value];
  if (value === 'true' || value === 'false') values.push(value === 'true');
  else if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(value) && Number.isFinite(Number(value))) values.push(Number(value));
  return { key, values };
}

/** The jsonb objects one of which a row's `attributes` must contain for the `attribute` filter (see {@link attributeFilterValues}). */
export function attributeCandidates(filter: string): string[] {
  const { key, values } = attributeFilterValues(filter);
  return values.map((candidate) => JSON.stringify({ [key]: candidate }));
}

/** Filter keys, in the order chips show them. */
export const filterKeys = Object.keys(filterShape) as (keyof StatsFilters)[];

/**
 * Host of a referer URL in SQL: lower-cased, without `www.`, port or path.
 * Hand-written as a regular expression because it must run inside Postgres.
 */
export const REFERRER_HOST_SQL = sql.raw(REFERRER_HOST_EXPRESSION);

/** Request-row column of each rollup dimension. */
export const DIMENSION_COLUMNS: Record<RollupDimension, string> = { browser: 'browser', os: 'os', country: 'country', device: 'device_type', node: 'node_id' };

/**
 * What rollups can answer: everything (no filter), one route (per-route hour
 * rollups), or one value of a rollup dimension (`pgpulse.dimension_rollups`).
 */
export type RollupSelection = { kind: 'all' } | { kind: 'route'; route: string } | { kind: 'dimension'; dimension: RollupDimension; value: string };

const isDimension = (key: string): key is RollupDimension => (rollupDimensions as readonly string[]).includes(key);

/**
 * The rollups that answer these filters, or null when they need raw rows: more
 * than one filter, `route=` (rows without a route), or a filter without rollups
 * (path, referrer, status and any other).
 */
export function rollupSelection(filters: StatsFilters): RollupSelection | null {
  const set = filterKeys.filter((key) => filters[key] !== undefined);
  if (set.length === 0) return { kind: 'all' };
  const key = set[0]!;
  if (set.length > 1) return null;
  if (key === 'route') return filters.route ? { kind: 'route', route: filters.route } : null;
  return isDimension(key) ? { kind: 'dimension', dimension: key, value: String(filters[key]) } : null;
}

/** Whether the filters cannot be answered from rollups (see {@link rollupSelection}): their queries read raw rows. */
export function needsRawRows(filters: StatsFilters): boolean {
  return rollupSelection(filters) === null;
}

/** The codes a status filter selects, inclusive: `5xx` → 500–599, `404` → 404–404. */
export function statusRange(status: string): [number, number] {
  if (status.endsWith('xx')) {
    const low = Number(status[0]) * 100;
    return [low, low + 99];
  }
  return [Number(status), Number(status)];
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
    const [low, high] = statusRange(filters.status);
    parts.push(sql`status_code between ${low} and ${high}`);
  }
  if (filters.node !== undefined) parts.push(sql`node_id = ${filters.node}`);
  if (filters.browser !== undefined) parts.push(sql`browser = ${filters.browser}`);
  if (filters.os !== undefined) parts.push(sql`os = ${filters.os}`);
  if (filters.country !== undefined) parts.push(sql`country = ${filters.country}`);
  if (filters.consumer !== undefined) parts.push(sql`consumer_id = ${filters.consumer}`);
  if (filters.visitor !== undefined) parts.push(sql`visitor_id = ${filters.visitor}`);
  if (filters.session !== undefined) parts.push(sql`session_id = ${filters.session}`);
  if (filters.attribute !== undefined) {
    // Containment (@>) so the GIN index (jsonb_path_ops, partial on `attributes is not null`) serves it.
    const contains = attributeCandidates(filters.attribute).map((json) => sql`attributes @> ${json}::jsonb`);
    parts.push(sql`attributes is not null and (${sql.join(contains, sql` or `)})`);
  }
  return parts.length === 0 ? sql`true` : sql.join(parts, sql` and `);
}

import { refererHost } from '../rollups/cube-dimensions.js';
import type { RequestLog } from '../schema/request-log.js';
import { attributeFilterValues, DIRECT, statusRange, type StatsFilters } from './stats-filters.js';

/** The fields of a row the filters look at (a captured RequestLog, a stored row, a row as the stream sends it). */
export type FilterableRow = Pick<
  RequestLog,
  | 'route'
  | 'path'
  | 'referer'
  | 'device_type'
  | 'status_code'
  | 'node_id'
  | 'browser'
  | 'os'
  | 'country'
  | 'attributes'
  | 'consumer_id'
  | 'visitor_id'
  | 'session_id'
>;

/**
 * Whether a row matches the filters: {@link filterCondition} in JS, for rows
 * that never reach SQL (the live stream, filtered per client).
 * Hand-written because the SQL runs inside Postgres; `test/stats/row-matches-filters.test.ts`
 * checks both select the same rows.
 */
export function rowMatchesFilters(filters: StatsFilters, row: FilterableRow): boolean {
  if (filters.route !== undefined && (filters.route === '' ? row.route !== null : row.route !== filters.route)) return false;
  if (filters.path !== undefined && row.path !== filters.path) return false;
  if (filters.referrer !== undefined) {
    if (filters.referrer === DIRECT ? row.referer !== null : refererHost(row.referer) !== filters.referrer.replace(/^www\./, '')) return false;
  }
  if (filters.device !== undefined && row.device_type !== filters.device) return false;
  if (filters.status !== undefined) {
    const [low, high] = statusRange(filters.status);
    if (row.status_code < low || row.status_code > high) return false;
  }
  if (filters.node !== undefined && row.node_id !== filters.node) return false;
  if (filters.browser !== undefined && row.browser !== filters.browser) return false;
  if (filters.os !== undefined && row.os !== filters.os) return false;
  if (filters.country !== undefined && row.country !== filters.country) return false;
  if (filters.consumer !== undefined && row.consumer_id !== filters.consumer) return false;
  if (filters.visitor !== undefined && row.visitor_id !== filters.visitor) return false;
  if (filters.session !== undefined && row.session_id !== filters.session) return false;
  if (filters.attribute !== undefined && !attributeMatches(filters.attribute, row.attributes)) return false;
  return true;
}

/** `attributes @> {key: value}` for a value of the filter: attributes are flat, so containment is equality of the key's value. */
function attributeMatches(filter: string, attributes: FilterableRow['attributes']): boolean {
  if (attributes === null) return false;
  const { key, values } = attributeFilterValues(filter);
  return Object.hasOwn(attributes, key) && values.includes(attributes[key]!);
}

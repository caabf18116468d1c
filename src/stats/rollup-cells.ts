import { sql, type RawBuilder } from 'kysely';
import { ALL_ROUTES, type RollupDimension } from '../rollups/batch-rollup.js';
import type { RollupGrain } from '../schema/database.js';
import type { Interval, RollupCover } from './rollup-cover.js';
import { DIMENSION_COLUMNS, type RollupSelection } from './stats-filters.js';

/**
 * SQL relations shaped like `pgpulse.rollups` rows (histograms as
 * comma-separated text, which reads much faster than array literals) that cover
 * a {@link RollupCover} exactly: rollup rows for whole buckets, and the same
 * aggregates computed from raw rows for the partial buckets at the edges.
 */

const COUNTS = sql`requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot`;
/** Dimension rollups count no devices: their cells read zero (callers take devices from elsewhere). */
const DIMENSION_COUNTS = sql`requests, s1, s2, s3, s4, s5, duration_sum, 0 as desktop, 0 as mobile, 0 as tablet, 0 as bot`;
const TEXT_HISTOGRAM = sql`array_to_string(hist_idx, ',') as hist_idx, array_to_string(hist_cnt, ',') as hist_cnt`;
const NOTHING = sql`select null::timestamptz as bucket, null::text as route, 0 as requests, 0 as s1, 0 as s2, 0 as s3, 0 as s4, 0 as s5,
  0::float8 as duration_sum, 0 as desktop, 0 as mobile, 0 as tablet, 0 as bot, ''::text as hist_idx, ''::text as hist_cnt where false`;

function within(column: RawBuilder<unknown>, intervals: readonly Interval[]): RawBuilder<unknown> {
  return sql`(${sql.join(
    intervals.map(([lo, hi]) => sql`(${column} >= ${lo} and ${column} < ${hi})`),
    sql` or `,
  )})`;
}

function unionAll(parts: RawBuilder<unknown>[]): RawBuilder<unknown> {
  return parts.length === 0 ? NOTHING : sql.join(parts, sql` union all `);
}

/** Condition on raw rows of a selection (`true` for all rows). */
function selectionCondition(selection: RollupSelection): RawBuilder<unknown> {
  if (selection.kind === 'route') return sql`route = ${selection.route}`;
  if (selection.kind === 'dimension') return sql`${sql.ref(DIMENSION_COLUMNS[selection.dimension])} = ${selection.value}`;
  return sql`true`;
}

/**
 * Raw rows in `intervals` (of the selection) aggregated per `key` with the
 * rollup rules: status classes, device counts, log-bucketed latency histogram.
 */
function rawAggregates(intervals: readonly Interval[], selection: RollupSelection, key: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    select bucket, route, sum(n)::int as requests, sum(s1)::int as s1, sum(s2)::int as s2, sum(s3)::int as s3, sum(s4)::int as s4,
      sum(s5)::int as s5, sum(ds) as duration_sum, sum(dd)::int as desktop, sum(dm)::int as mobile, sum(dt)::int as tablet,
      sum(db)::int as bot, string_agg(lb::text, ',' order by lb) as hist_idx, string_agg(n::text, ',' order by lb) as hist_cnt
    from (
      select ${key}, pgpulse.latency_bucket(duration_ms) as lb, count(*) as n,
        count(*) filter (where status_code < 200) as s1, count(*) filter (where status_code between 200 and 299) as s2,
        count(*) filter (where status_code between 300 and 399) as s3, count(*) filter (where status_code between 400 and 499) as s4,
        count(*) filter (where status_code >= 500) as s5, sum(duration_ms) as ds,
        count(*) filter (where device_type = 'desktop') as dd, count(*) filter (where device_type = 'mobile') as dm,
        count(*) filter (where device_type = 'tablet') as dt, count(*) filter (where device_type = 'bot') as db
      from pgpulse.request_logs
      where ${within(sql`inserted_at`, intervals)} and ${selectionCondition(selection)}
      group by 1, 2, 3) per_latency
    group by 1, 2`;
}

/**
 * Series cells of `[from, to)` for all rows, one route or one dimension value:
 * columns `bucket` (UTC start of a rollup bucket or, for raw edges, of a
 * minute), the rollup counts and the text histogram.
 */
export function seriesCells(cover: RollupCover, grain: RollupGrain, selection: RollupSelection): RawBuilder<unknown> {
  if (selection.kind === 'dimension') return dimensionSeriesCells(cover, grain, selection.dimension, selection.value);
  const routeKey = selection.kind === 'route' ? selection.route : ALL_ROUTES;
  const parts: RawBuilder<unknown>[] = [];
  if (cover.whole) {
    parts.push(sql`select bucket, route, ${COUNTS}, ${TEXT_HISTOGRAM} from pgpulse.rollups
      where grain = ${grain} and route = ${routeKey} and bucket >= ${cover.whole[0]} and bucket < ${cover.whole[1]}`);
  }
  if (cover.minutes.length > 0) {
    parts.push(sql`select bucket, route, ${COUNTS}, ${TEXT_HISTOGRAM} from pgpulse.rollups
      where grain = 'minute' and route = ${ALL_ROUTES} and ${within(sql`bucket`, cover.minutes)}`);
  }
  if (cover.raw.length > 0) {
    parts.push(rawAggregates(cover.raw, selection, sql`date_trunc('minute', inserted_at, 'UTC') as bucket, ${routeKey}::text as route`));
  }
  return unionAll(parts);
}

/** {@link seriesCells} of one dimension value (dimension rollups exist per minute and per hour); device counts read zero. */
function dimensionSeriesCells(cover: RollupCover, grain: RollupGrain, dimension: RollupDimension, value: string): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  const rows = sql`select bucket, ''::text as route, ${DIMENSION_COUNTS}, ${TEXT_HISTOGRAM} from pgpulse.dimension_rollups`;
  if (cover.whole) {
    parts.push(sql`${rows} where grain = ${grain} and dimension = ${dimension} and value = ${value}
      and bucket >= ${cover.whole[0]} and bucket < ${cover.whole[1]}`);
  }
  if (cover.minutes.length > 0) {
    parts.push(sql`${rows} where grain = 'minute' and dimension = ${dimension} and value = ${value} and ${within(sql`bucket`, cover.minutes)}`);
  }
  if (cover.raw.length > 0) {
    const raw = rawAggregates(cover.raw, { kind: 'dimension', dimension, value }, sql`date_trunc('minute', inserted_at, 'UTC') as bucket, ''::text as route`);
    parts.push(sql`select bucket, route, ${DIMENSION_COUNTS}, hist_idx, hist_cnt from (${raw}) r`);
  }
  return unionAll(parts);
}

/**
 * Requests per value of `dimensions` over an hour-grain cover with minute
 * edges (see `rollupCover`): the top `limit` values of each dimension by
 * requests (ties by value), exact. Columns `dimension`, `value`, `requests`.
 */
export function dimensionTopCells(cover: RollupCover, dimensions: readonly RollupDimension[], limit: number): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  const rows = sql`select dimension, value, requests from pgpulse.dimension_rollups`;
  if (cover.whole) {
    parts.push(sql`${rows} where grain = 'hour' and dimension = any(${dimensions}::text[]) and bucket >= ${cover.whole[0]} and bucket < ${cover.whole[1]}`);
  }
  if (cover.minutes.length > 0) {
    parts.push(sql`${rows} where grain = 'minute' and dimension = any(${dimensions}::text[]) and ${within(sql`bucket`, cover.minutes)}`);
  }
  if (cover.raw.length > 0) {
    const values = sql.join(dimensions.map((d) => sql`(${d}::text, ${sql.ref(DIMENSION_COLUMNS[d])}::text)`));
    parts.push(sql`select d.dimension, d.value, count(*)::int as requests
      from pgpulse.request_logs cross join lateral (values ${values}) d(dimension, value)
      where ${within(sql`inserted_at`, cover.raw)} and d.value is not null group by 1, 2`);
  }
  if (parts.length === 0) return sql`select null::text as dimension, null::text as value, 0 as requests where false`;
  return sql`
    select dimension, value, requests from (
      select dimension, value, sum(requests)::int as requests,
        row_number() over (partition by dimension order by sum(requests) desc, value) as rank
      from (${sql.join(parts, sql` union all `)}) parts group by 1, 2) ranked
    where rank <= ${limit}`;
}

/**
 * Per-route cells of an hour-grain cover (per-route rollups exist per hour
 * only): column `route` ('' when unknown), the rollup counts and the text
 * histogram. Partial hours at the edges are aggregated from raw rows.
 */
export function routeCells(cover: RollupCover): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (cover.whole) {
    parts.push(sql`select bucket, route, ${COUNTS}, ${TEXT_HISTOGRAM} from pgpulse.rollups
      where grain = 'hour' and route <> ${ALL_ROUTES} and bucket >= ${cover.whole[0]} and bucket < ${cover.whole[1]}`);
  }
  if (cover.raw.length > 0) parts.push(rawAggregates(cover.raw, { kind: 'all' }, sql`null::timestamptz as bucket, coalesce(route, '') as route`));
  return unionAll(parts);
}

/** Visitor sketches covering `cover`: columns `bucket` and `hll` (HyperLogLog registers). */
export function sketchCells(cover: RollupCover, grain: RollupGrain): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (cover.whole) {
    parts.push(sql`select bucket, hll from pgpulse.visitor_sketches where grain = ${grain} and bucket >= ${cover.whole[0]} and bucket < ${cover.whole[1]}`);
  }
  if (cover.minutes.length > 0) {
    parts.push(sql`select bucket, hll from pgpulse.visitor_sketches where grain = 'minute' and ${within(sql`bucket`, cover.minutes)}`);
  }
  if (cover.raw.length > 0) {
    parts.push(sql`
      select date_trunc('minute', inserted_at, 'UTC') as bucket, pgpulse.hll_agg(h.register, h.rank) as hll
      from pgpulse.request_logs cross join lateral pgpulse.hll_register(visitor_id) h
      where ${within(sql`inserted_at`, cover.raw)} and visitor_id is not null
      group by 1`);
  }
  return parts.length === 0 ? sql`select null::timestamptz as bucket, null::bytea as hll where false` : sql.join(parts, sql` union all `);
}

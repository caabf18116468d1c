import { sql, type RawBuilder } from 'kysely';
import { cellColumns, cellsFromRows } from '../rollups/aggregates.js';
import { cubeDimensionNames, cubeDimensions, cubeKeyColumns, REFERRER_WITHOUT_HOST } from '../rollups/cube-dimensions.js';
import { topKeyLists } from '../rollups/top-keys.js';
import { VISITOR_SAMPLE_SCALE } from '../rollups/visitor-hash.js';
import type { CubeCover } from './cube-cover.js';
import { DIRECT, filterCondition, statusRange, type StatsFilters } from './stats-filters.js';
import type { Interval } from './rollup-cover.js';

/**
 * SQL of the cube read path: the cells covering a range under some filters
 * (cube cells for trusted buckets, the same aggregates computed from raw rows
 * for the rest) and the grouped answers over them.
 */

/** Filters the cube answers: every filter except path, attribute, visitor and session. */
export function cubeAnswers(filters: StatsFilters): boolean {
  return filters.path === undefined && filters.attribute === undefined && filters.visitor === undefined && filters.session === undefined;
}

/** Condition on `pgpulse.cube_keys` (alias `k`) of the filters (path and attribute excluded, see {@link cubeAnswers}). */
export function keyCondition(filters: StatsFilters): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  const eq = (column: string, value: string) => parts.push(sql`${sql.ref(`k.${column}`)} = ${value}`);
  if (filters.route !== undefined) eq('route', filters.route);
  if (filters.status !== undefined) {
    const [low, high] = statusRange(filters.status);
    parts.push(sql`k.status_code between ${low} and ${high}`);
  }
  if (filters.device !== undefined) eq('device', filters.device);
  if (filters.browser !== undefined) eq('browser', filters.browser);
  if (filters.os !== undefined) eq('os', filters.os);
  if (filters.country !== undefined) eq('country', filters.country);
  if (filters.node !== undefined) eq('node', filters.node);
  if (filters.referrer !== undefined) eq('referrer', filters.referrer === DIRECT ? '' : filters.referrer.replace(/^www\./, ''));
  return parts.length === 0 ? sql`true` : sql.join(parts, sql` and `);
}

export function within(column: RawBuilder<unknown>, intervals: readonly Interval[]): RawBuilder<unknown> {
  if (intervals.length === 0) return sql`false`;
  return sql`(${sql.join(
    intervals.map(([lo, hi]) => sql`(${column} >= ${lo} and ${column} < ${hi})`),
    sql` or `,
  )})`;
}

const DIMENSIONS = sql.raw(cubeKeyColumns.join(', '));

/**
 * The cells of a cover under the filters: `bucket` (UTC start of the day or
 * hour), the dimension columns of `pgpulse.cube_keys` and every aggregate
 * column; with a `consumer` filter, that consumer's cells (the cover must then
 * trust only buckets built with consumer cells, see `trustedBuckets`). Raw parts are aggregated per hour and combination with the same
 * definitions as the builder's (`cellsFromRows`).
 */
export function coverCells(cover: CubeCover, filters: StatsFilters): RawBuilder<unknown> {
  const columns = sql.raw(cellColumns.map((column) => `c.${column}`).join(', '));
  const keyColumns = sql.raw(cubeKeyColumns.map((column) => `k.${column}`).join(', '));
  const parts: RawBuilder<unknown>[] = [];
  for (const [grain, buckets] of [
    ['day', cover.days],
    ['hour', cover.hours],
  ] as const) {
    if (buckets.length === 0) continue;
    // One consumer's cells are the consumer cells (migration 0050): the same aggregates per consumer and key.
    const table = filters.consumer === undefined ? sql`pgpulse.cube_cells c` : sql`pgpulse.consumer_cells c`;
    const consumer = filters.consumer === undefined ? sql`true` : sql`c.consumer_id = ${filters.consumer}`;
    parts.push(sql`select c.bucket, ${keyColumns}, ${columns} from ${table} join pgpulse.cube_keys k on k.id = c.key_id
      where c.grain = ${grain} and c.bucket = any(${buckets.map((b) => b.toISOString())}::timestamptz[]) and ${consumer} and ${keyCondition(filters)}`);
  }
  if (cover.raw.length > 0) {
    const groups = [`date_trunc('hour', inserted_at, 'UTC')`, ...cubeDimensionNames.map((name) => cubeDimensions[name].rowSql)];
    const rows = sql`select * from pgpulse.request_logs where ${within(sql`inserted_at`, cover.raw)} and ${filterCondition(filters)}`;
    const names = sql.raw(['bucket', ...cubeKeyColumns].map((column, i) => `g${i} as ${column}`).join(', '));
    parts.push(sql`select ${names}, ${sql.raw(cellColumns.join(', '))} from (${cellsFromRows(rows, groups)}) raw_cells`);
  }
  if (parts.length === 0) {
    return sql`select null::timestamptz as bucket, ${DIMENSIONS}, ${sql.raw(cellColumns.join(', '))} from pgpulse.cube_keys k, pgpulse.cube_cells c where false`;
  }
  return sql.join(parts, sql` union all `);
}

/**
 * The value rows (`pgpulse.cube_values`) of a cover without filters:
 * `bucket`, `dimension` (`all`, `status`, `referrer`), `value` and every
 * aggregate column; raw parts aggregated the same way.
 */
export function coverValues(cover: CubeCover): RawBuilder<unknown> {
  const columns = sql.raw(cellColumns.join(', '));
  const parts: RawBuilder<unknown>[] = [];
  for (const [grain, buckets] of [
    ['day', cover.days],
    ['hour', cover.hours],
  ] as const) {
    if (buckets.length === 0) continue;
    parts.push(sql`select bucket, dimension, value, ${columns} from pgpulse.cube_values
      where grain = ${grain} and bucket = any(${buckets.map((b) => b.toISOString())}::timestamptz[])`);
  }
  if (cover.raw.length > 0) {
    const referrer = cubeDimensions.referrer.rowSql;
    const rows = sql`select r.*, d.dimension, d.value from pgpulse.request_logs r
      cross join lateral (values ('all', ''), ('status', r.status_code::text), ('referrer', ${sql.raw(referrer)})) d(dimension, value)
      where ${within(sql`inserted_at`, cover.raw)}`;
    parts.push(sql`select g0 as bucket, g1 as dimension, g2 as value, ${columns}
      from (${cellsFromRows(rows, [`date_trunc('hour', inserted_at, 'UTC')`, 'dimension', 'value'])}) raw_values`);
  }
  if (parts.length === 0)
    return sql`select null::timestamptz as bucket, null::text as dimension, null::text as value, ${columns} from pgpulse.cube_values where false`;
  return sql.join(parts, sql` union all `);
}

/**
 * {@link breakdownQuery} over value rows (see {@link coverValues}): the same
 * parts for kinds `total` (dimension `all`), `status` and `referrer`.
 */
export function valuesQuery(rows: RawBuilder<unknown>, limit: number, ownHosts: readonly string[]): RawBuilder<unknown> {
  return sql`
    with cells as materialized (select case when dimension = 'all' then 'total' else dimension end as kind, value as key, c.* from (${rows}) c),
    grouped as (
      select kind, key, sum(requests)::bigint as requests, sum(errors)::bigint as errors, sum(client_errors)::bigint as client_errors,
        sum(duration_sum) as duration_sum, sum(bytes_sum)::float8 as bytes_sum, sum(cardinality(visitors))::bigint as hashes
      from cells group by 1, 2),
    kept as (
      select * from (select *, row_number() over (partition by kind order by requests desc, key) as rank from grouped
        where not (kind = 'referrer' and (key = '' or key = any(${ownHosts}::text[])))) ranked
      where kind in ('total', 'status') or rank <= ${limit}),
    ${visitorCtes(
      [
        ['k.kind', 'kind'],
        ['k.key', 'key'],
      ],
      sql`cells c join kept k on k.kind = c.kind and k.key = c.key`,
      sql`(k.kind = 'total' or (select hashes from kept where kind = 'total') <= ${VALUE_VISITOR_HASHES})`,
      sql`k.hashes`,
    )},
    hist as (select 'total' as kind, '' as key, i, sum(n)::bigint as n from cells, unnest(hist_idx, hist_cnt) u(i, n) where kind = 'total' group by i)
    select 'g' as part, kind, key, requests, errors, client_errors, duration_sum, bytes_sum, null::int as i, null::bigint as n, null::bigint as visitors, null::boolean as sampled from kept
    union all select 'h', kind, key, null, null, null, null, null, i, n, null, null from hist
    union all select 'v', kind, key, null, null, null, null, null, null, null, visitors, sampled from vis`;
}

/** Visitor hashes a group may unnest before it counts a 1/16 sample instead (standard error √15/√n for n visitors). */
export const EXACT_VISITOR_HASHES = 300_000;

/**
 * Most visitor hashes the cells of a breakdown may hold for visitors to be
 * counted per list value (each value unnests its cells' hashes again); above
 * it only the total counts visitors and values show none. Bounds the CPU a
 * long unfiltered range costs.
 */
export const VALUE_VISITOR_HASHES = 400_000;

/**
 * Fewest distinct hashes a 1/16 sample must hold to be counted instead of the
 * whole set: its relative standard error √(15/16)/√m is then at most 0.97%,
 * so the count is within 2% of exact at 95% confidence. A smaller sample
 * (a set of many hashes but fewer than ~160k distinct visitors: the same
 * visitors in many cells) is not used: the set is counted exactly.
 */
export const MIN_SAMPLED_VISITORS = 10_000;

/**
 * Two CTEs over the rows of `from` (which has the cells as `c`), grouped by
 * `groups`: `vis_sample`, the distinct hashes of the 1/16 samples of groups
 * holding more than {@link EXACT_VISITOR_HASHES} hashes (`hashes`), and `vis`:
 * per group, `visitors` (16 × the sample's distinct hashes where the sample
 * holds at least {@link MIN_SAMPLED_VISITORS}, else the exact distinct count)
 * and whether it was `sampled`.
 */
function visitorCtes(
  groups: readonly (readonly [expression: string, name: string])[],
  from: RawBuilder<unknown>,
  where: RawBuilder<unknown>,
  hashes: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const exprs = sql.raw(groups.map(([expression]) => expression).join(', '));
  const named = sql.raw(groups.map(([expression, name]) => `${expression} as ${name}`).join(', '));
  const names = sql.raw(groups.map(([, name]) => name).join(', '));
  return sql`vis_sample as (
      select ${named}, count(distinct v) as m from ${from} cross join lateral unnest(c.visitors[1:c.visitors_sampled]) v
      where ${where} and ${hashes} > ${EXACT_VISITOR_HASHES} group by ${exprs}),
    vis as (
      select ${names}, true as sampled, ${VISITOR_SAMPLE_SCALE} * m as visitors from vis_sample where m >= ${MIN_SAMPLED_VISITORS}
      union all
      select ${named}, false, count(distinct v) from ${from} cross join lateral unnest(c.visitors) v
      where ${where} and (${hashes} <= ${EXACT_VISITOR_HASHES} or (${exprs}) in (select ${names} from vis_sample where m < ${MIN_SAMPLED_VISITORS}))
      group by ${exprs})`;
}

/** The lists a breakdown answers, with their column in the cells and whether '' (none) is left out. */
const BREAKDOWNS = [
  ['route', 'route', false],
  ['status', 'status_code::text', false],
  ['device', 'device', false],
  ['browser', 'browser', true],
  ['os', 'os', true],
  ['country', 'country', true],
  ['node', 'node', false],
  ['referrer', 'referrer', true],
] as const;
export type Breakdown = (typeof BREAKDOWNS)[number][0] | 'total';

/**
 * One statement over the cells: per breakdown value (and the total, kind
 * `total` with key ''), requests, 5xx, 4xx, duration and bytes sums (part
 * `g`); latency histograms of the total and each route (part `h`: value `i`,
 * count `n`); visitors of the total and of the first `limit` values of each
 * list by requests (part `v`; `sampled` when counted from the 1/16 sample;
 * values only while the cells hold at most {@link VALUE_VISITOR_HASHES} hashes).
 * Lists leave out '' where it means "none" (browser, OS, country, referrer),
 * and referrers leave out `ownHosts`.
 */
export function breakdownQuery(cells: RawBuilder<unknown>, limit: number, ownHosts: readonly string[]): RawBuilder<unknown> {
  const kind = sql.raw(`case ${BREAKDOWNS.map(([name, column]) => `when grouping(${column}) = 0 then '${name}'`).join(' ')} else 'total' end`);
  const key = sql.raw(`case ${BREAKDOWNS.map(([, column]) => `when grouping(${column}) = 0 then ${column}`).join(' ')} else '' end`);
  const sets = sql.raw(['()', ...BREAKDOWNS.map(([, column]) => `(${column})`)].join(', '));
  const skipNone = sql.raw(
    BREAKDOWNS.filter(([, , skip]) => skip)
      .map(([name]) => `'${name}'`)
      .join(', '),
  );
  const values = sql.raw(["('total', '')", ...BREAKDOWNS.map(([name, column]) => `('${name}', c.${column.replace('::text', '')}::text)`)].join(', '));
  return sql`
    with cells as materialized (${cells}),
    grouped as (
      select ${kind} as kind, ${key} as key, sum(requests)::bigint as requests,
        coalesce(sum(requests) filter (where status_code >= 500), 0)::bigint as errors,
        coalesce(sum(requests) filter (where status_code between 400 and 499), 0)::bigint as client_errors,
        sum(duration_sum) as duration_sum, sum(bytes_sum)::float8 as bytes_sum, sum(cardinality(visitors))::bigint as hashes
      from cells group by grouping sets (${sets})),
    kept as (
      select * from (select *, row_number() over (partition by kind order by requests desc, key) as rank from grouped
        where not (kind in (${skipNone}) and key = '') and not (kind = 'referrer' and key = any(${ownHosts}::text[]))) ranked
      where kind in ('total', 'route', 'status') or rank <= ${limit}),
    ${visitorCtes(
      [
        ['d.kind', 'kind'],
        ['d.key', 'key'],
      ],
      sql`cells c cross join lateral (values ${values}) d(kind, key) join kept k on k.kind = d.kind and k.key = d.key`,
      sql`(d.kind = 'total' or (select hashes from kept where kind = 'total') <= ${VALUE_VISITOR_HASHES})`,
      sql`k.hashes`,
    )},
    hist as (
      select case when grouping(route) = 0 then 'route' else 'total' end as kind, coalesce(route, '') as key, i, sum(n)::bigint as n
      from cells, unnest(hist_idx, hist_cnt) u(i, n) group by grouping sets ((route, i), (i)))
    select 'g' as part, kind, key, requests, errors, client_errors, duration_sum, bytes_sum, null::int as i, null::bigint as n, null::bigint as visitors, null::boolean as sampled from kept
    union all select 'h', kind, key, null, null, null, null, null, i, n, null, null from hist
    union all select 'v', kind, key, null, null, null, null, null, null, null, visitors, sampled from vis`;
}

/**
 * One statement over hour-level cells: per chart bucket `t` (epoch ms),
 * requests, 5xx and bytes (part `s`), the latency histogram (part `h`) and
 * visitors (part `v`).
 */
export function seriesQuery(cells: RawBuilder<unknown>, bucket: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    with cells as materialized (select extract(epoch from ${bucket}) * 1000 as t, c.* from (${cells}) c),
    per_bucket as (
      select t, sum(requests)::bigint as requests, coalesce(sum(requests) filter (where status_code >= 500), 0)::bigint as errors,
        sum(bytes_sum)::float8 as bytes_sum, sum(cardinality(visitors))::bigint as hashes
      from cells group by t),
    ${visitorCtes([['c.t', 't']], sql`cells c join per_bucket p using (t)`, sql`true`, sql`p.hashes`)}
    select 's' as part, t, requests, errors, bytes_sum, null::int as i, null::bigint as n, null::bigint as visitors from per_bucket
    union all
    select 'h', t, null, null, null, i, sum(n)::bigint, null from cells, unnest(hist_idx, hist_cnt) u(i, n) group by t, i
    union all
    select 'v', t, null, null, null, null, null, visitors from vis`;
}

/**
 * Top keys of the high-cardinality lists (paths, 404s, referrer URLs) over a
 * cover without filters: counts from `pgpulse.cube_top_keys` for trusted
 * buckets plus exact counts of the raw parts; `bound` per list is the sum of
 * the buckets' `dropped_max` (what a count may miss). Columns `list`, `key`,
 * `requests`, `bound`; the first `limit` keys per list.
 */
export function topKeysQuery(cover: CubeCover, limit: number): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  for (const [grain, buckets] of [
    ['day', cover.days],
    ['hour', cover.hours],
  ] as const) {
    if (buckets.length === 0) continue;
    parts.push(sql`select list, key, requests, dropped_max from pgpulse.cube_top_keys
      where grain = ${grain} and bucket = any(${buckets.map((b) => b.toISOString())}::timestamptz[])`);
  }
  if (cover.raw.length > 0) {
    const values = sql.join(topKeyLists.map((l) => sql`(${l.name}::text, ${sql.raw(l.rowSql)})`));
    parts.push(sql`select l.list, l.key, count(*)::integer as requests, 0 as dropped_max from pgpulse.request_logs cross join lateral (values ${values}) l(list, key)
      where ${within(sql`inserted_at`, cover.raw)} and l.key is not null group by 1, 2`);
  }
  if (parts.length === 0) return sql`select null::text as list, null::text as key, 0::bigint as requests, 0::bigint as bound where false`;
  return sql`
    with counted as (${sql.join(parts, sql` union all `)}),
    bounds as (select list, sum(dropped_max)::bigint as bound from counted group by list),
    keys as (select list, key, sum(requests)::bigint as requests, row_number() over (partition by list order by sum(requests) desc, key) as rank
      from counted where key <> '' group by list, key)
    select k.list, k.key, k.requests, b.bound from keys k join bounds b using (list) where k.rank <= ${limit}`;
}

/** The referrer key of a row whose referer has no host, as lists show it (null, like the raw path). */
export const referrerKey = (key: string): string | null => (key === REFERRER_WITHOUT_HOST ? null : key);

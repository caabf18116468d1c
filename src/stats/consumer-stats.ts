import { sql, type Kysely, type RawBuilder } from 'kysely';
import { cellColumns, cellsFromRows } from '../rollups/aggregates.js';
import { histogramPercentiles, type Histogram } from '../rollups/latency-histogram.js';
import type { PulseDatabase } from '../schema/database.js';
import { keyCondition, within } from './cube-cells.js';
import type { CubeCover } from './cube-cover.js';
import { filterCondition, type StatsFilters } from './stats-filters.js';
import { num, type ConsumerStat } from './stats.js';

/** The consumers of a range, most requests first, and how many there are. */
export interface ConsumerList {
  consumers: ConsumerStat[];
  /** Distinct consumers of the range under the filters. */
  count: number;
}

/** Consumers a stats answer lists. */
export const TOP_CONSUMERS = 20;

interface ConsumerRow {
  part: 'g' | 'h';
  consumer_id: string;
  requests: string | null;
  errors: string | null;
  client_errors: string | null;
  duration_sum: number | null;
  bytes_sum: number | null;
  last_seen: Date | null;
  consumer_name: string | null;
  consumer_group: string | null;
  total: string | null;
  i: number | null;
  n: string | null;
}

/**
 * Consumer cells of a cover under the filters: `consumer_id`, every aggregate
 * column, `last_seen`, `consumer_name`, `consumer_group`. Trusted buckets come
 * from `pgpulse.consumer_cells`; raw parts are aggregated per consumer with
 * the cube's aggregate definitions (`cellsFromRows`).
 */
function consumerCells(cover: CubeCover, filters: StatsFilters): RawBuilder<unknown> {
  const columns = cellColumns.join(', ');
  const parts: RawBuilder<unknown>[] = [];
  const consumer = filters.consumer === undefined ? sql`true` : sql`c.consumer_id = ${filters.consumer}`;
  for (const [grain, buckets] of [
    ['day', cover.days],
    ['hour', cover.hours],
  ] as const) {
    if (buckets.length === 0) continue;
    parts.push(sql`select c.consumer_id, ${sql.raw(cellColumns.map((column) => `c.${column}`).join(', '))}, c.last_seen, c.consumer_name, c.consumer_group
      from pgpulse.consumer_cells c join pgpulse.cube_keys k on k.id = c.key_id
      where c.grain = ${grain} and c.bucket = any(${buckets.map((b) => b.toISOString())}::timestamptz[]) and ${consumer} and ${keyCondition(filters)}`);
  }
  if (cover.raw.length > 0) {
    const rows = sql`select * from pgpulse.request_logs where ${within(sql`inserted_at`, cover.raw)} and consumer_id is not null and ${filterCondition(filters)}`;
    parts.push(sql`select cells.g0 as consumer_id, ${sql.raw(cellColumns.map((column) => `cells.${column}`).join(', '))}, l.last_seen, l.consumer_name, l.consumer_group
      from (${cellsFromRows(rows, ['consumer_id'])}) cells
      join (select distinct on (consumer_id) consumer_id, inserted_at as last_seen, consumer_name, consumer_group from (${rows}) r
            order by consumer_id, inserted_at desc) l on l.consumer_id = cells.g0`);
  }
  if (parts.length === 0) {
    return sql`select consumer_id, ${sql.raw(columns)}, last_seen, consumer_name, consumer_group from pgpulse.consumer_cells where false`;
  }
  return sql.join(parts, sql` union all `);
}

/**
 * The first `limit` consumers of a cover under the filters, by requests (then
 * id): sums exact, percentiles from the latency histograms (within 2%), last
 * seen and the latest name and group. One statement.
 */
export async function queryConsumers(db: Kysely<PulseDatabase>, cover: CubeCover, filters: StatsFilters, limit = TOP_CONSUMERS): Promise<ConsumerList> {
  const result = await sql<ConsumerRow>`
    with cells as materialized (${consumerCells(cover, filters)}),
    grouped as (
      select consumer_id, sum(requests)::bigint as requests, sum(errors)::bigint as errors, sum(client_errors)::bigint as client_errors,
        sum(duration_sum) as duration_sum, sum(bytes_sum)::float8 as bytes_sum, max(last_seen) as last_seen
      from cells group by consumer_id),
    kept as (select * from grouped order by requests desc, consumer_id collate "C" limit ${limit}),
    latest as (
      select distinct on (consumer_id) consumer_id, consumer_name, consumer_group from cells
      where consumer_id in (select consumer_id from kept) order by consumer_id, last_seen desc),
    hist as (
      select consumer_id, i, sum(n)::bigint as n from cells, unnest(hist_idx, hist_cnt) u(i, n)
      where consumer_id in (select consumer_id from kept) group by 1, 2)
    select 'g' as part, k.consumer_id, k.requests, k.errors, k.client_errors, k.duration_sum, k.bytes_sum, k.last_seen, l.consumer_name, l.consumer_group,
      (select count(*) from grouped)::bigint as total, null::int as i, null::bigint as n
    from kept k join latest l using (consumer_id)
    union all
    select 'h', consumer_id, null, null, null, null, null, null, null, null, null, i, n from hist`.execute(db);
  const histograms = new Map<string, Histogram>();
  const groups: ConsumerRow[] = [];
  for (const row of result.rows) {
    if (row.part === 'g') groups.push(row);
    else {
      let histogram = histograms.get(row.consumer_id);
      if (!histogram) histograms.set(row.consumer_id, (histogram = new Map<number, number>()));
      histogram.set(row.i!, num(row.n));
    }
  }
  const consumers = groups
    .map((g): ConsumerStat => {
      const requests = num(g.requests);
      const [p50, p95, p99] = histogramPercentiles(histograms.get(g.consumer_id) ?? new Map<number, number>(), [0.5, 0.95, 0.99]);
      return {
        id: g.consumer_id,
        name: g.consumer_name,
        group: g.consumer_group,
        requests,
        errors: num(g.errors),
        clientErrors: num(g.client_errors),
        bytes: num(g.bytes_sum),
        avgMs: requests ? num(g.duration_sum) / requests : 0,
        lastSeen: g.last_seen!.toISOString(),
        p50: p50 ?? null,
        p95: p95 ?? null,
        p99: p99 ?? null,
      };
    })
    .sort((a, b) => b.requests - a.requests || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { consumers, count: num(groups[0]?.total) };
}

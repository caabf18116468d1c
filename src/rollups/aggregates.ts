import { sql, type RawBuilder } from 'kysely';
import type { RequestLog } from '../schema/request-log.js';
import { latencyBucket } from './latency-histogram.js';
import { VISITOR_SAMPLE_BELOW, visitorHash } from './visitor-hash.js';

/**
 * The aggregates of a cube cell (`pgpulse.cube_cells`), each defined once:
 * its columns, its value for one raw row in SQL and in JS, and its kind, which
 * fixes how cells merge (in SQL and in JS). The cube builder's SQL, the merge
 * of hour cells into days, the read side and the JS accumulator
 * ({@link CellAccumulator}) are all generated from this list;
 * test/rollups/aggregates.test.ts checks that JS and SQL agree on the same rows.
 *
 * Adding an aggregate: one entry here and a migration adding its column(s) to
 * `pgpulse.cube_cells` (the builder rebuilds old buckets; see docs/ARCHITECTURE.md).
 */

/** A sum of a per-row value (counts are sums of 1). */
export interface SumAggregate {
  kind: 'sum';
  column: string;
  /** Postgres type of the column (the sum is cast to it). */
  pgType: 'integer' | 'bigint' | 'double precision';
  /** The row's value, in SQL over the columns of `pgpulse.request_logs`. */
  rowSql: string;
  /** The row's value in JS. */
  rowValue: (row: RequestLog) => number;
}

/** A sparse histogram of a small integer per row: `columns[0]` the values ascending, `columns[1]` their counts. */
export interface HistogramAggregate {
  kind: 'histogram';
  columns: readonly [idx: string, cnt: string];
  rowSql: string;
  rowValue: (row: RequestLog) => number;
}

/**
 * The distinct 32-bit hashes of a per-row value (null rows left out):
 * `columns[0]` ascending, `columns[1]` how many of them are below
 * {@link VISITOR_SAMPLE_BELOW} (a uniform 1/16 sample, listed first).
 */
export interface DistinctAggregate {
  kind: 'distinct';
  columns: readonly [values: string, sampled: string];
  rowSql: string;
  rowValue: (row: RequestLog) => number | null;
}

export type Aggregate = SumAggregate | HistogramAggregate | DistinctAggregate;

/** The aggregates of a cube cell, in `pgpulse.cube_cells` column order. */
export const cellAggregates = {
  requests: { kind: 'sum', column: 'requests', pgType: 'integer', rowSql: '1', rowValue: () => 1 },
  errors: { kind: 'sum', column: 'errors', pgType: 'integer', rowSql: '(status_code >= 500)::int', rowValue: (row) => (row.status_code >= 500 ? 1 : 0) },
  clientErrors: {
    kind: 'sum',
    column: 'client_errors',
    pgType: 'integer',
    rowSql: '(status_code between 400 and 499)::int',
    rowValue: (row) => (row.status_code >= 400 && row.status_code <= 499 ? 1 : 0),
  },
  duration: { kind: 'sum', column: 'duration_sum', pgType: 'double precision', rowSql: 'duration_ms', rowValue: (row) => row.duration_ms },
  // Summed as float8 (exact below 2^53 bytes a cell): a sum of int8 accumulates in numeric, several times slower.
  bytes: { kind: 'sum', column: 'bytes_sum', pgType: 'bigint', rowSql: 'coalesce(response_bytes, 0)::float8', rowValue: (row) => row.response_bytes ?? 0 },
  latency: {
    kind: 'histogram',
    columns: ['hist_idx', 'hist_cnt'],
    rowSql: 'pgpulse.latency_bucket(duration_ms)',
    rowValue: (row) => latencyBucket(row.duration_ms),
  },
  visitors: {
    kind: 'distinct',
    columns: ['visitors', 'visitors_sampled'],
    rowSql: 'pgpulse.visitor_hash(visitor_id)',
    rowValue: (row) => (row.visitor_id === null ? null : visitorHash(row.visitor_id)),
  },
} as const satisfies Record<string, Aggregate>;

const aggregates: readonly Aggregate[] = Object.values(cellAggregates);
const sums = aggregates.filter((a): a is SumAggregate => a.kind === 'sum');
const histograms = aggregates.filter((a): a is HistogramAggregate => a.kind === 'histogram');
const distincts = aggregates.filter((a): a is DistinctAggregate => a.kind === 'distinct');

/** Every aggregate column of a cell, in table order. */
export const cellColumns: readonly string[] = aggregates.flatMap((a) => (a.kind === 'sum' ? [a.column] : [...a.columns]));

const list = (names: readonly string[], prefix = '') => names.map((n) => `${prefix}${n}`).join(', ');

/** The aggregate columns of a result, in table order: sums from `agg`, histograms from `histAlias`, distinct sets from `vis`. */
function outputColumns(histAlias: string): string {
  return aggregates
    .map((a) => {
      if (a.kind === 'sum') return `agg.${a.column}`;
      if (a.kind === 'histogram') return `${histAlias}.${a.columns[0]}, ${histAlias}.${a.columns[1]}`;
      return `coalesce(vis.${a.columns[0]}, '{}') as ${a.columns[0]}, coalesce(vis.${a.columns[1]}, 0) as ${a.columns[1]}`;
    })
    .join(', ');
}

/**
 * Partial aggregates of raw rows, the two relations cells are made of:
 * `perValue` has per key (`g0, g1, …`: `groups`, SQL over the source rows) and
 * histogram value `h` the row count `n` and every sum; `distinctValues` the
 * distinct (key, hash `v`) pairs. Keys must not be null.
 */
export function partialsFromRows(
  source: RawBuilder<unknown>,
  groups: readonly string[],
): { perValue: RawBuilder<unknown>; distinctValues: RawBuilder<unknown> } {
  const g = groups.map((_, i) => `g${i}`);
  const h = histograms[0]!;
  const d = distincts[0]!;
  const keys = groups.map((expr, i) => `${expr} as g${i}`).join(', ');
  return {
    perValue: sql`select ${sql.raw(`${keys}, ${h.rowSql} as h, count(*) as n, ${sums.map((a) => `sum(${a.rowSql}) as ${a.column}`).join(', ')}`)}
      from (${source}) raw group by ${sql.raw(list(g))}, h`,
    distinctValues: sql`select distinct ${sql.raw(`${keys}, ${d.rowSql} as v`)} from (${source}) raw where ${sql.raw(d.rowSql)} is not null`,
  };
}

/**
 * Cells (key `g0, g1, …`, then every aggregate column) from partials (see
 * {@link partialsFromRows}), regrouped by `groups` (SQL over the partials'
 * `g` columns; omit to keep their keys): e.g. hour partials into day cells.
 * Arrays come out ascending: their inputs are sorted once, not per group.
 */
export function cellsFromPartials(
  perValue: RawBuilder<unknown>,
  distinctValues: RawBuilder<unknown>,
  keyCount: number,
  groups?: readonly string[],
): RawBuilder<unknown> {
  const g = Array.from({ length: keyCount }, (_, i) => `g${i}`);
  const keys = sql.raw((groups ?? g).map((expr, i) => `${expr} as g${i}`).join(', '));
  const h = histograms[0]!;
  const d = distincts[0]!;
  const regrouped = groups
    ? // Positions, not names: in GROUP BY a name means the input column (the old key), not the new one.
      sql`select ${keys}, h, sum(n) as n, ${sql.raw(sums.map((a) => `sum(${a.column}) as ${a.column}`).join(', '))} from (${perValue}) p
        group by ${sql.raw(Array.from({ length: keyCount + 1 }, (_, i) => String(i + 1)).join(', '))}`
    : perValue;
  return sql`
    with agg as (
      select ${sql.raw(`${list(g)}, ${sums.map((a) => `sum(${a.column})::${a.pgType} as ${a.column}`).join(', ')},
        array_agg(h::smallint) as ${h.columns[0]}, array_agg(n::integer) as ${h.columns[1]}`)}
      from (select * from (${regrouped}) r order by ${sql.raw(list(g))}, h) sorted group by ${sql.raw(list(g))}),
    vis as (
      select ${sql.raw(`${list(g)}, array_agg(v) as ${d.columns[0]}, (count(*) filter (where v < ${VISITOR_SAMPLE_BELOW}))::integer as ${d.columns[1]}`)}
      from (select distinct ${keys}, v from (${distinctValues}) dv order by ${sql.raw(list(g))}, v) sorted group by ${sql.raw(list(g))})
    select ${sql.raw(`${list(g, 'agg.')}, ${outputColumns('agg')}`)}
    from agg left join vis using (${sql.raw(list(g))})`;
}

/**
 * SQL (a query) aggregating raw rows into cells: `source` is a query over
 * `pgpulse.request_logs` rows (any columns it needs), `groups` the SQL
 * expressions (over those rows) of the cell's key, named `g0, g1, …` in the
 * result, followed by every aggregate column. Keys must not be null.
 */
export function cellsFromRows(source: RawBuilder<unknown>, groups: readonly string[]): RawBuilder<unknown> {
  const { perValue, distinctValues } = partialsFromRows(sql`select * from src`, groups);
  // Partials of a materialized source: the raw rows are read once.
  return sql`with src as materialized (${source}), pv as materialized (${perValue}), dv as materialized (${distinctValues})
    select * from (${cellsFromPartials(sql`select * from pv`, sql`select * from dv`, groups.length)}) cells`;
}

/**
 * SQL (a query) merging cells into coarser cells (e.g. hours into days):
 * `source` is a query yielding cell columns plus the new key `g0, g1, …`
 * (`groups` names how many); the result has the key and every aggregate column.
 */
export function cellsFromCells(source: string, groupCount: number): string {
  const g = Array.from({ length: groupCount }, (_, i) => `g${i}`);
  const h = histograms[0]!;
  const d = distincts[0]!;
  return `
    with c as materialized (${source}),
    agg as (select ${list(g)}, ${sums.map((a) => `sum(${a.column})::${a.pgType} as ${a.column}`).join(', ')} from c group by ${list(g)}),
    hist as (
      select ${list(g)}, array_agg(i order by i) as ${h.columns[0]}, array_agg(n order by i) as ${h.columns[1]}
      from (select ${list(g)}, i, sum(n)::integer as n from c, unnest(c.${h.columns[0]}, c.${h.columns[1]}) u(i, n) group by ${list(g)}, i) per_value
      group by ${list(g)}),
    vis as (
      select ${list(g)}, array_agg(v order by v) as ${d.columns[0]}, (count(*) filter (where v < ${VISITOR_SAMPLE_BELOW}))::integer as ${d.columns[1]}
      from (select distinct ${list(g)}, v from c, unnest(c.${d.columns[0]}) v) distinct_values group by ${list(g)})
    select ${list(g, 'agg.')}, ${outputColumns('hist')}
    from agg join hist using (${list(g)}) left join vis using (${list(g)})`;
}

/** A cell's aggregates as JS values (what {@link CellAccumulator} yields and a cell row reads as). */
export interface CellValues {
  sums: Record<string, number>;
  /** Histogram value → count. */
  histogram: Map<number, number>;
  /** Distinct hashes. */
  distinct: Set<number>;
}

/** The JS side of {@link cellAggregates}: accumulates raw rows or whole cells. */
export class CellAccumulator implements CellValues {
  readonly sums: Record<string, number> = Object.fromEntries(sums.map((a) => [a.column, 0]));
  readonly histogram = new Map<number, number>();
  readonly distinct = new Set<number>();

  addRow(row: RequestLog): void {
    for (const a of sums) this.sums[a.column]! += a.rowValue(row);
    for (const a of histograms) {
      const value = a.rowValue(row);
      this.histogram.set(value, (this.histogram.get(value) ?? 0) + 1);
    }
    for (const a of distincts) {
      const value = a.rowValue(row);
      if (value !== null) this.distinct.add(value);
    }
  }

  /** Adds a cell read from Postgres (arrays as JS arrays, bigints as text or numbers). */
  addCell(cell: Record<string, unknown>): void {
    for (const a of sums) this.sums[a.column]! += Number(cell[a.column]);
    for (const a of histograms) {
      const idx = cell[a.columns[0]] as number[];
      const cnt = cell[a.columns[1]] as number[];
      idx.forEach((value, i) => this.histogram.set(value, (this.histogram.get(value) ?? 0) + cnt[i]!));
    }
    for (const a of distincts) for (const value of cell[a.columns[0]] as number[]) this.distinct.add(value);
  }

  /** The cell columns, shaped as Postgres returns them (arrays ascending, the sampled count). */
  toCell(): Record<string, number | number[]> {
    const out: Record<string, number | number[]> = { ...this.sums };
    for (const a of histograms) {
      const idx = [...this.histogram.keys()].sort((x, y) => x - y);
      out[a.columns[0]] = idx;
      out[a.columns[1]] = idx.map((i) => this.histogram.get(i)!);
    }
    for (const a of distincts) {
      const values = [...this.distinct].sort((x, y) => x - y);
      out[a.columns[0]] = values;
      out[a.columns[1]] = values.filter((v) => v < VISITOR_SAMPLE_BELOW).length;
    }
    return out;
  }
}

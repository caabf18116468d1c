import type { ColumnType, Generated, QueryExecutorProvider } from 'kysely';
import type { RequestLogKyselyColumns } from './columns.js';

/** Kysely row type of `pgpulse.request_logs`: the column list plus what Postgres generates. */
export type RequestLogsTable = RequestLogKyselyColumns & {
  /** int8, read as text. */
  id: Generated<string>;
  /** xid8 of the inserting transaction, read as text. */
  tx_id: Generated<string>;
};

/** Rollup grains: per minute (all routes together) and per hour (all routes and each route). */
export const rollupGrains = ['minute', 'hour'] as const;
export type RollupGrain = (typeof rollupGrains)[number];
export type RollupGrainColumn = RollupGrain;

/** Aggregates every rollup table holds for one bucket: requests by status class, latency sum and sparse histogram. */
export interface RollupAggregates {
  grain: RollupGrainColumn;
  bucket: ColumnType<Date, Date | string, Date | string>;
  /** Rollup shard (0–31) the writing transaction claimed (migration 0007); readers add shards up. */
  shard: Generated<number>;
  requests: number;
  s1: number;
  s2: number;
  s3: number;
  s4: number;
  s5: number;
  duration_sum: number;
  hist_idx: number[];
  hist_cnt: number[];
}

/** Kysely row type of `pgpulse.rollups`: aggregates of one (grain, bucket, route). */
export interface RollupsTable extends RollupAggregates {
  /** Route pattern, '' when unknown, `\u0001all` for all routes together. */
  route: string;
  desktop: number;
  mobile: number;
  tablet: number;
  bot: number;
}

/** Kysely row type of `pgpulse.dimension_rollups`: aggregates of one (grain, bucket, dimension, value). */
export interface DimensionRollupsTable extends RollupAggregates {
  /** `browser`, `os`, `country`, `device` or `node`. */
  dimension: string;
  value: string;
}

/** Kysely row type of `pgpulse.visitor_sketches`: HyperLogLog registers of one (grain, bucket). */
export interface VisitorSketchesTable {
  grain: RollupGrainColumn;
  bucket: ColumnType<Date, Date | string, Date | string>;
  /** Rollup shard (0–31), as in `pgpulse.rollups`; readers merge shards. */
  shard: Generated<number>;
  hll: Buffer;
}

/** Kysely row type of `pgpulse.cube_keys`: one combination of cube dimension values ('' for none). */
export interface CubeKeysTable {
  id: Generated<number>;
  route: string;
  status_code: number;
  device: string;
  browser: string;
  os: string;
  country: string;
  node: string;
  referrer: string;
}

/** Kysely row type of `pgpulse.cube_cells`: the aggregates (src/rollups/aggregates.ts) of one (grain, bucket, key). */
export interface CubeCellsTable {
  grain: 'hour' | 'day';
  bucket: ColumnType<Date, Date | string, Date | string>;
  key_id: number;
  requests: number;
  duration_sum: number;
  /** int8, read as text. */
  bytes_sum: ColumnType<string, number, number>;
  hist_idx: number[];
  hist_cnt: number[];
  visitors: number[];
  visitors_sampled: number;
}

/** Kysely row type of `pgpulse.cube_top_keys` (src/rollups/top-keys.ts). */
export interface CubeTopKeysTable {
  grain: 'hour' | 'day';
  bucket: ColumnType<Date, Date | string, Date | string>;
  list: string;
  /** '' for the row of the keys left out. */
  key: string;
  requests: number;
  dropped_max: number;
}

/** Kysely row type of `pgpulse.cube_buckets`: what a cube bucket was built from. */
export interface CubeBucketsTable {
  grain: 'hour' | 'day';
  bucket: ColumnType<Date, Date | string, Date | string>;
  requests: ColumnType<string, number, number>;
  rollup_requests: ColumnType<string, number, number>;
  /** Requests of the bucket's consumer cells; null when it was built without them (migration 0050). */
  consumer_requests: ColumnType<string | null, number | null, number | null>;
  built_at: Generated<Date>;
}

/** Kysely row type of `pgpulse.consumer_cells`: the cube's aggregates per (grain, bucket, consumer, key), and when the consumer was last seen. */
export interface ConsumerCellsTable extends CubeCellsTable {
  consumer_id: string;
  last_seen: ColumnType<Date, Date | string, Date | string>;
  consumer_name: string | null;
  consumer_group: string | null;
}

/** Kysely row type of `pgpulse.visitor_salts`. */
export interface VisitorSaltsTable {
  day: ColumnType<string, string, string>;
  salt: string;
}

/** Kysely row type of `pgpulse.error_groups`: one error group (migration 0030). */
export interface ErrorGroupsTable {
  fingerprint: string;
  class: string;
  message: string;
  /** Top stack frames of its first occurrence (jsonb array of strings). */
  frames: ColumnType<string[], string, never>;
  first_seen: ColumnType<Date, Date | string, never>;
  first_request_id: string;
}

/** Kysely row type of `pgpulse.error_rollups`: occurrences of one (grain, bucket, fingerprint, route, shard). */
export interface ErrorRollupsTable {
  grain: RollupGrainColumn;
  bucket: ColumnType<Date, Date | string, Date | string>;
  fingerprint: string;
  /** Route pattern, '' when unknown. */
  route: string;
  shard: Generated<number>;
  count: number;
  last_seen: ColumnType<Date, Date | string, Date | string>;
  last_request_id: string;
  last_trace_id: string | null;
  last_message: string;
  last_status: number;
}

/** Kysely row type of the `pgpulse.errors` view: errors grouped by fingerprint. */
export interface ErrorsView {
  fingerprint: string;
  class: string;
  message: string;
  frames: string[];
  first_seen: Date;
  last_seen: Date | null;
  /** int8, read as text. */
  count: string;
  routes: string[];
  last_request_id: string | null;
  last_trace_id: string | null;
  last_message: string | null;
}

/** Kysely row type of `pgpulse.migrations`. */
export interface MigrationsTable {
  name: string;
  applied_at: Generated<Date>;
}

/** Every table pgpulse reads and writes, keyed the way Kysely expects (`schema.table`). */
export interface PulseDatabase {
  'pgpulse.request_logs': RequestLogsTable;
  'pgpulse.rollups': RollupsTable;
  'pgpulse.dimension_rollups': DimensionRollupsTable;
  'pgpulse.visitor_sketches': VisitorSketchesTable;
  'pgpulse.visitor_salts': VisitorSaltsTable;
  'pgpulse.cube_keys': CubeKeysTable;
  'pgpulse.cube_cells': CubeCellsTable;
  'pgpulse.cube_top_keys': CubeTopKeysTable;
  'pgpulse.cube_buckets': CubeBucketsTable;
  'pgpulse.consumer_cells': ConsumerCellsTable;
  'pgpulse.migrations': MigrationsTable;
  'pgpulse.error_groups': ErrorGroupsTable;
  'pgpulse.error_rollups': ErrorRollupsTable;
  'pgpulse.errors': ErrorsView;
}

/**
 * A Kysely instance over any schema, such as the app's own `Kysely<AppDatabase>`,
 * where a public option or function accepts one. pgpulse types it by its own
 * tables with `asPulseDatabase()` before running anything through it.
 */
export interface AnySchemaKysely extends QueryExecutorProvider {
  withoutPlugins(): AnySchemaKysely;
}

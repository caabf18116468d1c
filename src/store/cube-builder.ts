import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { cellColumns, cellsFromPartials, partialsFromRows } from '../rollups/aggregates.js';
import { ALL_ROUTES } from '../rollups/batch-rollup.js';
import { cubeDimensionNames, cubeDimensions, cubeKeyColumns } from '../rollups/cube-dimensions.js';
import { TOP_KEYS_PER_BUCKET, topKeyLists } from '../rollups/top-keys.js';
import type { PulseDatabase } from '../schema/database.js';

/**
 * Builds the request cube (`pgpulse.cube_cells`, `cube_top_keys`,
 * `cube_buckets`; see migrations/0020_request_cube.sql) and the consumer
 * cells (`pgpulse.consumer_cells`, migrations/0050_consumer_cells.sql) from raw rows. Runs
 * off the write path (the writer never touches the cube), one UTC day or less
 * per transaction, so a backfill of months is a series of short, resumable
 * batches. Each transaction reads the raw rows and the writer's hour rollups
 * in one snapshot (REPEATABLE READ) and records both counts per bucket:
 * readers trust a bucket only while they still match.
 */

/** Advisory lock key (arbitrary constant) held by the transaction that builds cube buckets. */
export const CUBE_BUILD_LOCK = 7_286_112_020;

const dims = cubeDimensionNames.map((name) => cubeDimensions[name]);

/**
 * Raw rows of [lo, hi) projected to what the cube needs, in a temp table
 * dropped at commit, with the key id of their combination of dimension values
 * (new combinations get one first): later steps group by (bucket, key id), not
 * by eight text columns.
 */
async function stageRawRows(trx: Transaction<PulseDatabase>, lo: Date, hi: Date): Promise<void> {
  const columns = sql.raw(cubeKeyColumns.join(', '));
  await sql`
    create temp table pgpulse_cube_raw on commit drop as
    select date_trunc('hour', inserted_at, 'UTC') as hour, ${sql.raw(dims.map((d) => `${d.rowSql} as ${d.column}`).join(', '))},
      duration_ms, response_bytes, visitor_id, path, referer, inserted_at, consumer_id, consumer_name, consumer_group
    from pgpulse.request_logs where inserted_at >= ${lo} and inserted_at < ${hi}`.execute(trx);
  await sql`insert into pgpulse.cube_keys (${columns}) select distinct ${columns} from pgpulse_cube_raw on conflict do nothing`.execute(trx);
  await sql`
    create temp table pgpulse_cube_rows on commit drop as
    select r.*, k.id as key_id from pgpulse_cube_raw r join pgpulse.cube_keys k using (${columns})`.execute(trx);
}

/** Writes the cells of `grain` (g0 = bucket, g1 = key id) from a query over the staged partials. */
async function writeCells(trx: Transaction<PulseDatabase>, grain: 'hour' | 'day', lo: Date, hi: Date, cells: RawBuilder<unknown>): Promise<void> {
  await sql`delete from pgpulse.cube_cells where grain = ${grain} and bucket >= ${lo} and bucket < ${hi}`.execute(trx);
  await sql`insert into pgpulse.cube_cells (grain, bucket, key_id, ${sql.raw(cellColumns.join(', '))})
    select ${grain}, g0, g1, ${sql.raw(cellColumns.join(', '))} from (${cells}) c`.execute(trx);
}

/** Dimensions `pgpulse.cube_values` keeps (views without filters read them; the writer's rollups have the others). */
export const VALUE_DIMENSIONS = sql.raw(`(values ('all', ''), ('status', k.status_code::text), ('referrer', k.referrer))`);

/** Writes the value rows of `grain` (per bucket, dimension and value) from the staged partials. */
async function writeValues(trx: Transaction<PulseDatabase>, grain: 'hour' | 'day', lo: Date, hi: Date): Promise<void> {
  const bucket = grain === 'hour' ? 'g0' : `date_trunc('day', g0, 'UTC')`;
  const withValue = (table: string) =>
    sql`select p.*, d.dimension, d.value from ${sql.table(table)} p join pgpulse.cube_keys k on k.id = p.g1 cross join lateral ${VALUE_DIMENSIONS} d(dimension, value)`;
  const values = cellsFromPartials(withValue('pgpulse_cube_pv'), withValue('pgpulse_cube_dv'), 3, [bucket, 'dimension', 'value']);
  await sql`delete from pgpulse.cube_values where grain = ${grain} and bucket >= ${lo} and bucket < ${hi}`.execute(trx);
  await sql`insert into pgpulse.cube_values (grain, bucket, dimension, value, ${sql.raw(cellColumns.join(', '))})
    select ${grain}, g0, g1, g2, ${sql.raw(cellColumns.join(', '))} from (${values}) v`.execute(trx);
}

/** Writes the top keys of `grain` buckets from the staged raw rows. */
async function writeTopKeys(trx: Transaction<PulseDatabase>, grain: 'hour' | 'day', lo: Date, hi: Date): Promise<void> {
  const bucket = grain === 'hour' ? sql`hour` : sql`date_trunc('day', hour, 'UTC')`;
  const values = sql.join(topKeyLists.map((list) => sql`(${list.name}::text, ${sql.raw(list.rowSql)})`));
  await sql`delete from pgpulse.cube_top_keys where grain = ${grain} and bucket >= ${lo} and bucket < ${hi}`.execute(trx);
  await sql`
    insert into pgpulse.cube_top_keys (grain, bucket, list, key, requests, dropped_max)
    with counts as (
      select ${bucket} as bucket, l.list, l.key, count(*)::integer as n
      from pgpulse_cube_raw cross join lateral (values ${values}) l(list, key)
      where l.key is not null group by 1, 2, 3),
    ranked as (select *, row_number() over (partition by bucket, list order by n desc, key) as rank from counts)
    select ${grain}, bucket, list, key, n, 0 from ranked where rank <= ${TOP_KEYS_PER_BUCKET}
    union all
    select ${grain}, bucket, list, '', sum(n)::integer, max(n) from ranked where rank > ${TOP_KEYS_PER_BUCKET} group by bucket, list`.execute(trx);
}

/**
 * Hour partials of the staged rows that have a consumer, per (hour, key id,
 * consumer), and the latest row of each (when, the name and group then): what
 * the consumer cells of hours and days are made of.
 */
async function stageConsumerPartials(trx: Transaction<PulseDatabase>): Promise<void> {
  const { perValue, distinctValues } = partialsFromRows(sql`select * from pgpulse_cube_rows where consumer_id is not null`, ['hour', 'key_id', 'consumer_id']);
  await sql`create temp table pgpulse_consumer_pv on commit drop as ${perValue}`.execute(trx);
  await sql`create temp table pgpulse_consumer_dv on commit drop as ${distinctValues}`.execute(trx);
  await sql`
    create temp table pgpulse_consumer_last on commit drop as
    select distinct on (hour, key_id, consumer_id) hour, key_id, consumer_id, inserted_at as last_seen, consumer_name, consumer_group
    from pgpulse_cube_rows where consumer_id is not null order by hour, key_id, consumer_id, inserted_at desc`.execute(trx);
}

/** Writes the consumer cells of `grain` (`pgpulse.consumer_cells`, migration 0050) from the staged consumer partials. */
async function writeConsumerCells(trx: Transaction<PulseDatabase>, grain: 'hour' | 'day', lo: Date, hi: Date): Promise<void> {
  const pv = sql`select * from pgpulse_consumer_pv`;
  const dv = sql`select * from pgpulse_consumer_dv`;
  const cells = cellsFromPartials(pv, dv, 3, grain === 'day' ? [`date_trunc('day', g0, 'UTC')`, 'g1', 'g2'] : undefined);
  const bucket = grain === 'hour' ? sql`hour` : sql`date_trunc('day', hour, 'UTC')`;
  const columns = sql.raw(cellColumns.map((column) => `c.${column}`).join(', '));
  await sql`delete from pgpulse.consumer_cells where grain = ${grain} and bucket >= ${lo} and bucket < ${hi}`.execute(trx);
  await sql`
    insert into pgpulse.consumer_cells (grain, bucket, key_id, consumer_id, ${sql.raw(cellColumns.join(', '))}, last_seen, consumer_name, consumer_group)
    with last as (
      select distinct on (1, 2, 3) ${bucket} as bucket, key_id, consumer_id, last_seen, consumer_name, consumer_group
      from pgpulse_consumer_last order by 1, 2, 3, last_seen desc)
    select ${grain}, c.g0, c.g1, c.g2, ${columns}, l.last_seen, l.consumer_name, l.consumer_group
    from (${cells}) c join last l on l.bucket = c.g0 and l.key_id = c.g1 and l.consumer_id = c.g2`.execute(trx);
}

/** Records what the buckets of [lo, hi) were built from: requests of the cells, and of the writer's rollups in the same snapshot. */
async function writeBuckets(trx: Transaction<PulseDatabase>, grain: 'hour' | 'day', lo: Date, hi: Date): Promise<void> {
  const step = grain === 'hour' ? sql`interval '1 hour'` : sql`interval '1 day'`;
  await sql`delete from pgpulse.cube_buckets where grain = ${grain} and bucket >= ${lo} and bucket < ${hi}`.execute(trx);
  await sql`
    insert into pgpulse.cube_buckets (grain, bucket, requests, rollup_requests, consumer_requests)
    select ${grain}, b,
      coalesce((select sum(requests) from pgpulse.cube_cells where grain = ${grain} and bucket = b), 0),
      coalesce((select sum(requests) from pgpulse.rollups where grain = 'hour' and route = ${ALL_ROUTES} and bucket >= b and bucket < b + ${step}), 0),
      coalesce((select sum(requests) from pgpulse.consumer_cells where grain = ${grain} and bucket = b), 0)
    from generate_series(${lo}::timestamptz, ${hi}::timestamptz - interval '1 microsecond', ${step}) b`.execute(trx);
}

/**
 * Builds the hour buckets of [from, to) (whole UTC hours, at most one UTC day)
 * from raw rows and, when `day` is set (the range is that whole UTC day), the
 * day bucket too (cells merged from the hours, top keys from the raw rows).
 * Answers the raw rows read.
 */
export async function buildCubeRange(db: Kysely<PulseDatabase>, from: Date, to: Date, options: { day?: boolean } = {}): Promise<number> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${CUBE_BUILD_LOCK}::bigint)`.execute(trx);
      // Sorts and hashes of a day of rows stay in memory (the default 4 MB spills them to disk).
      await sql`set local work_mem = '64MB'`.execute(trx);
      await stageRawRows(trx, from, to);
      const staged = await sql<{ n: number }>`select count(*)::integer as n from pgpulse_cube_raw`.execute(trx);
      // Hour partials once; hour and day cells and value rows are made from them.
      const { perValue, distinctValues } = partialsFromRows(sql`select * from pgpulse_cube_rows`, ['hour', 'key_id']);
      await sql`create temp table pgpulse_cube_pv on commit drop as ${perValue}`.execute(trx);
      await sql`create temp table pgpulse_cube_dv on commit drop as ${distinctValues}`.execute(trx);
      const pv = sql`select * from pgpulse_cube_pv`;
      const dv = sql`select * from pgpulse_cube_dv`;
      await writeCells(trx, 'hour', from, to, cellsFromPartials(pv, dv, 2));
      await writeValues(trx, 'hour', from, to);
      await writeTopKeys(trx, 'hour', from, to);
      await stageConsumerPartials(trx);
      await writeConsumerCells(trx, 'hour', from, to);
      await writeBuckets(trx, 'hour', from, to);
      if (options.day) {
        await writeCells(trx, 'day', from, to, cellsFromPartials(pv, dv, 2, [`date_trunc('day', g0, 'UTC')`, 'g1']));
        await writeValues(trx, 'day', from, to);
        await writeTopKeys(trx, 'day', from, to);
        await writeConsumerCells(trx, 'day', from, to);
        await writeBuckets(trx, 'day', from, to);
      }
      return staged.rows[0]!.n;
    });
}

import { sql, type Transaction } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import type { RequestLog } from '../schema/request-log.js';
import { rollupBatch } from '../rollups/batch-rollup.js';

const pgArray = (values: Iterable<number>) => `{${[...values].join(',')}}`;

/**
 * Adds a batch to `pgpulse.rollups`, `pgpulse.dimension_rollups` and
 * `pgpulse.visitor_sketches` (upserts merging counts, histograms and sketches), inside the insert's transaction so
 * rollups never disagree with committed rows. The rows go to a shard the
 * transaction claims for itself (`pgpulse.claim_rollup_shard`, trying
 * `preferredShard` first; see rollup-shard.ts), so concurrent batches do not
 * wait on each other's row locks. Keys are written in sorted order, so even
 * when all shards are taken concurrent batches cannot deadlock.
 * Answers the shard used.
 */
export async function writeRollups(trx: Transaction<PulseDatabase>, rows: readonly RequestLog[], preferredShard = 0): Promise<number> {
  const { rollups, dimensions, sketches } = rollupBatch(rows);
  if (rollups.length === 0) return preferredShard;
  const histIdx = rollups.map((r) => [...r.histogram.keys()].sort((a, b) => a - b));
  const claimed = await sql<{ shard: number }>`
    with claim as materialized (select pgpulse.claim_rollup_shard(${preferredShard}::int) as shard),
    upsert as (
      insert into pgpulse.rollups as r (grain, bucket, route, shard, requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot, hist_idx, hist_cnt)
      select grain, bucket, route, (select shard from claim), requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot,
        hist_idx::smallint[], hist_cnt::integer[]
      from unnest(
        ${rollups.map((r) => r.grain)}::text[], ${rollups.map((r) => new Date(r.bucket).toISOString())}::timestamptz[], ${rollups.map((r) => r.route)}::text[],
        ${rollups.map((r) => r.requests)}::int[], ${rollups.map((r) => r.status[1])}::int[], ${rollups.map((r) => r.status[2])}::int[],
        ${rollups.map((r) => r.status[3])}::int[], ${rollups.map((r) => r.status[4])}::int[], ${rollups.map((r) => r.status[5])}::int[],
        ${rollups.map((r) => r.durationSum)}::float8[], ${rollups.map((r) => r.devices.desktop)}::int[], ${rollups.map((r) => r.devices.mobile)}::int[],
        ${rollups.map((r) => r.devices.tablet)}::int[], ${rollups.map((r) => r.devices.bot)}::int[],
        ${histIdx.map((idx) => pgArray(idx))}::text[], ${rollups.map((r, i) => pgArray(histIdx[i]!.map((b) => r.histogram.get(b)!)))}::text[]
      ) with ordinality as u(grain, bucket, route, requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot, hist_idx, hist_cnt, n)
      order by n
      on conflict (grain, bucket, route, shard) do update set
        requests = r.requests + excluded.requests, s1 = r.s1 + excluded.s1, s2 = r.s2 + excluded.s2, s3 = r.s3 + excluded.s3,
        s4 = r.s4 + excluded.s4, s5 = r.s5 + excluded.s5, duration_sum = r.duration_sum + excluded.duration_sum,
        desktop = r.desktop + excluded.desktop, mobile = r.mobile + excluded.mobile, tablet = r.tablet + excluded.tablet, bot = r.bot + excluded.bot,
        (hist_idx, hist_cnt) = (select m.idx, m.cnt from pgpulse.hist_merge(r.hist_idx, r.hist_cnt, excluded.hist_idx, excluded.hist_cnt) m))
    select shard from claim`.execute(trx);
  const shard = claimed.rows[0]!.shard;
  if (dimensions.length > 0) {
    const dimIdx = dimensions.map((r) => [...r.histogram.keys()].sort((a, b) => a - b));
    await sql`
      insert into pgpulse.dimension_rollups as r (grain, bucket, dimension, value, shard, requests, s1, s2, s3, s4, s5, duration_sum, hist_idx, hist_cnt)
      select grain, bucket, dimension, value, ${shard}::smallint, requests, s1, s2, s3, s4, s5, duration_sum, hist_idx::smallint[], hist_cnt::integer[]
      from unnest(
        ${dimensions.map((r) => r.grain)}::text[], ${dimensions.map((r) => new Date(r.bucket).toISOString())}::timestamptz[],
        ${dimensions.map((r) => r.dimension)}::text[], ${dimensions.map((r) => r.value)}::text[], ${dimensions.map((r) => r.requests)}::int[],
        ${dimensions.map((r) => r.status[1])}::int[], ${dimensions.map((r) => r.status[2])}::int[], ${dimensions.map((r) => r.status[3])}::int[],
        ${dimensions.map((r) => r.status[4])}::int[], ${dimensions.map((r) => r.status[5])}::int[], ${dimensions.map((r) => r.durationSum)}::float8[],
        ${dimIdx.map((idx) => pgArray(idx))}::text[], ${dimensions.map((r, i) => pgArray(dimIdx[i]!.map((b) => r.histogram.get(b)!)))}::text[]
      ) with ordinality as u(grain, bucket, dimension, value, requests, s1, s2, s3, s4, s5, duration_sum, hist_idx, hist_cnt, n)
      order by n
      on conflict (grain, bucket, dimension, value, shard) do update set
        requests = r.requests + excluded.requests, s1 = r.s1 + excluded.s1, s2 = r.s2 + excluded.s2, s3 = r.s3 + excluded.s3,
        s4 = r.s4 + excluded.s4, s5 = r.s5 + excluded.s5, duration_sum = r.duration_sum + excluded.duration_sum,
        (hist_idx, hist_cnt) = (select m.idx, m.cnt from pgpulse.hist_merge(r.hist_idx, r.hist_cnt, excluded.hist_idx, excluded.hist_cnt) m)`.execute(trx);
  }
  if (sketches.length > 0) {
    await sql`
      insert into pgpulse.visitor_sketches as v (grain, bucket, shard, hll)
      select grain, bucket, ${shard}::smallint, decode(hll, 'hex')
      from unnest(${sketches.map((s) => s.grain)}::text[], ${sketches.map((s) => new Date(s.bucket).toISOString())}::timestamptz[],
                  ${sketches.map((s) => Buffer.from(s.registers).toString('hex'))}::text[]) with ordinality as u(grain, bucket, hll, n)
      order by n
      on conflict (grain, bucket, shard) do update set hll = pgpulse.hll_merge(v.hll, excluded.hll)`.execute(trx);
  }
  return shard;
}

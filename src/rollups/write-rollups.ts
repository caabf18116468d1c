import { sql, type Transaction } from 'kysely';
import type { PulseDatabase } from '../database.js';
import type { RequestLog } from '../request-log.js';
import { rollupBatch } from './batch-rollup.js';

const pgArray = (values: Iterable<number>) => `{${[...values].join(',')}}`;

/**
 * Adds a batch to `pgpulse.rollups` and `pgpulse.visitor_sketches` (upserts
 * merging counts, histograms and sketches), inside the insert's transaction so
 * rollups never disagree with committed rows. Keys are written in sorted
 * order, so concurrent batches cannot deadlock.
 */
export async function writeRollups(trx: Transaction<PulseDatabase>, rows: readonly RequestLog[]): Promise<void> {
  const { rollups, sketches } = rollupBatch(rows);
  if (rollups.length > 0) {
    const histIdx = rollups.map((r) => [...r.histogram.keys()].sort((a, b) => a - b));
    await sql`
      insert into pgpulse.rollups as r (grain, bucket, route, requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot, hist_idx, hist_cnt)
      select grain, bucket, route, requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot, hist_idx::smallint[], hist_cnt::integer[]
      from unnest(
        ${rollups.map((r) => r.grain)}::text[], ${rollups.map((r) => new Date(r.bucket).toISOString())}::timestamptz[], ${rollups.map((r) => r.route)}::text[],
        ${rollups.map((r) => r.requests)}::int[], ${rollups.map((r) => r.status[1])}::int[], ${rollups.map((r) => r.status[2])}::int[],
        ${rollups.map((r) => r.status[3])}::int[], ${rollups.map((r) => r.status[4])}::int[], ${rollups.map((r) => r.status[5])}::int[],
        ${rollups.map((r) => r.durationSum)}::float8[], ${rollups.map((r) => r.devices.desktop)}::int[], ${rollups.map((r) => r.devices.mobile)}::int[],
        ${rollups.map((r) => r.devices.tablet)}::int[], ${rollups.map((r) => r.devices.bot)}::int[],
        ${histIdx.map((idx) => pgArray(idx))}::text[], ${rollups.map((r, i) => pgArray(histIdx[i]!.map((b) => r.histogram.get(b)!)))}::text[]
      ) with ordinality as u(grain, bucket, route, requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot, hist_idx, hist_cnt, n)
      order by n
      on conflict (grain, bucket, route) do update set
        requests = r.requests + excluded.requests, s1 = r.s1 + excluded.s1, s2 = r.s2 + excluded.s2, s3 = r.s3 + excluded.s3,
        s4 = r.s4 + excluded.s4, s5 = r.s5 + excluded.s5, duration_sum = r.duration_sum + excluded.duration_sum,
        desktop = r.desktop + excluded.desktop, mobile = r.mobile + excluded.mobile, tablet = r.tablet + excluded.tablet, bot = r.bot + excluded.bot,
        (hist_idx, hist_cnt) = (select m.idx, m.cnt from pgpulse.hist_merge(r.hist_idx, r.hist_cnt, excluded.hist_idx, excluded.hist_cnt) m)`.execute(trx);
  }
  if (sketches.length > 0) {
    await sql`
      insert into pgpulse.visitor_sketches as v (grain, bucket, hll)
      select grain, bucket, decode(hll, 'hex')
      from unnest(${sketches.map((s) => s.grain)}::text[], ${sketches.map((s) => new Date(s.bucket).toISOString())}::timestamptz[],
                  ${sketches.map((s) => Buffer.from(s.registers).toString('hex'))}::text[]) with ordinality as u(grain, bucket, hll, n)
      order by n
      on conflict (grain, bucket) do update set hll = pgpulse.hll_merge(v.hll, excluded.hll)`.execute(trx);
  }
}

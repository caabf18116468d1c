import { sql, type Kysely } from 'kysely';
import { ALL_ROUTES } from '../rollups/batch-rollup.js';
import { DAY_MS, HOUR_MS } from '../shared/time.js';
import { buildCubeRange, CUBE_BUILD_LOCK } from './cube-builder.js';
import { buildPathIndexes } from './path-index.js';
import type { PulseDatabase } from '../schema/database.js';
import { z } from 'zod';
import { parseOption } from '../shared/option-schema.js';

export interface CubeCatchUpOptions {
  /** Most buckets (hours) rebuilt by one call; a backfill is many calls. Default 168 (a week of hours). */
  maxHours?: number;
  /** Hours that ended less than this long ago are left to the next call (rows may still arrive). Default 30,000 ms. */
  settleMs?: number;
  /** Stops between batches when aborted (a batch in flight finishes). */
  signal?: AbortSignal;
  /** Called after each batch (one UTC day at most), e.g. for progress output. */
  onBatch?: (batch: CubeBatch) => void;
}

/** {@link CubeCatchUpOptions.maxHours} with its default. */
const maxHoursSchema = z.number({ error: 'must be a positive integer' }).int().positive().default(168);

/** One batch of a cube catch-up: the buckets of [`from`, `to`) rebuilt from `rows` raw rows; `pending` stale hours remain. */
export interface CubeBatch {
  from: Date;
  to: Date;
  rows: number;
  /** Stale hours still to build after this batch (in this call or later ones). */
  pending: number;
}

export interface CubeCatchUpResult {
  /** Hour buckets rebuilt. */
  hours: number;
  /** Raw rows read. */
  rows: number;
  /** Stale hours left for later calls (beyond `maxHours`). */
  pending: number;
  /** Another process was building the cube: this call did nothing. */
  skipped: boolean;
  /** Partitions that got their path index (migration 0021) in this call. */
  pathIndexes?: number;
}

/** The hours whose cube buckets disagree with the writer's rollups, do not exist or lack consumer cells (migration 0050), newest first. */
async function staleHours(db: Kysely<PulseDatabase>, settled: Date): Promise<number[]> {
  const result = await sql<{ bucket: Date }>`
    with rolled as (
      select bucket, sum(requests) as n from pgpulse.rollups where grain = 'hour' and route = ${ALL_ROUTES} and bucket < ${settled} group by bucket),
    built as (select bucket, rollup_requests, consumer_requests from pgpulse.cube_buckets where grain = 'hour' and bucket < ${settled}),
    days as (
      select date_trunc('day', bucket, 'UTC') as day, sum(n) as n from rolled group by 1),
    stale_days as (
      select d.day from days d left join pgpulse.cube_buckets b on b.grain = 'day' and b.bucket = d.day
      where d.day + interval '1 day' <= ${settled} and (b.bucket is null or b.rollup_requests <> d.n or b.consumer_requests is null))
    select coalesce(r.bucket, b.bucket) as bucket from rolled r full join built b using (bucket)
    where b.bucket is null or b.rollup_requests <> coalesce(r.n, 0) or b.consumer_requests is null
    union
    select day from stale_days
    order by 1 desc`.execute(db);
  return result.rows.map((r) => r.bucket.getTime());
}

/**
 * Brings the request cube up to date with the raw rows: rebuilds, newest
 * first, every hour whose cube bucket is missing or was built from other rows
 * than the writer's rollups count now (late rows, rows of nodes that do not
 * know the cube, rebuilt rollups), and the day buckets of closed UTC days
 * around them. A closed day is rebuilt whole (its day cells and top keys need
 * all its rows), today hour by hour. Idempotent and resumable: what is done is
 * recorded per bucket, so an interrupted run, or one on another node, simply
 * leaves less for the next (builders queue on an advisory lock).
 */
export async function catchUpCube(db: Kysely<PulseDatabase>, options: CubeCatchUpOptions = {}): Promise<CubeCatchUpResult> {
  const maxHours = parseOption('pgpulse catchUpCube', 'maxHours', maxHoursSchema, options.maxHours);
  // One connection for the whole run: its session lock keeps other nodes' runs out (they skip, not wait).
  return db.connection().execute(async (conn) => {
    const locked = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${CUBE_BUILD_LOCK}::bigint) as ok`.execute(conn);
    if (!locked.rows[0]?.ok) return { hours: 0, rows: 0, pending: 0, skipped: true };
    try {
      const result = await catchUp(conn, maxHours, options);
      // The path index of partitions that predate migration 0021, a few per run (never blocks writers).
      if (!options.signal?.aborted) result.pathIndexes = await buildPathIndexes(conn);
      return result;
    } finally {
      await sql`select pg_advisory_unlock(${CUBE_BUILD_LOCK}::bigint)`.execute(conn);
    }
  });
}

async function catchUp(db: Kysely<PulseDatabase>, maxHours: number, options: CubeCatchUpOptions): Promise<CubeCatchUpResult> {
  const settleMs = options.settleMs ?? 30_000;
  const now = Date.now();
  const settled = new Date(Math.floor((now - settleMs) / HOUR_MS) * HOUR_MS);
  const stale = await staleHours(db, settled);
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const days = new Map<number, number[]>();
  for (const hour of stale) {
    const day = Math.floor(hour / DAY_MS) * DAY_MS;
    let hours = days.get(day);
    if (!hours) days.set(day, (hours = []));
    hours.push(hour);
  }
  let hours = 0;
  let rows = 0;
  let pending = stale.length;
  for (const [day, dayHours] of days) {
    if (hours >= maxHours || options.signal?.aborted) break;
    const whole = day + DAY_MS <= settled.getTime() && day < today;
    const from = whole ? day : Math.min(...dayHours);
    const to = whole ? day + DAY_MS : Math.max(...dayHours) + HOUR_MS;
    const read = await buildCubeRange(db, new Date(from), new Date(to), { day: whole });
    hours += (to - from) / HOUR_MS;
    rows += read;
    pending -= dayHours.length;
    options.onBatch?.({ from: new Date(from), to: new Date(to), rows: read, pending: Math.max(0, pending) });
  }
  // Fresh statistics after a build: readers pick index or hash plans by the cells' row counts.
  if (hours > 0)
    await sql`analyze pgpulse.cube_cells, pgpulse.cube_values, pgpulse.cube_keys, pgpulse.cube_buckets, pgpulse.cube_top_keys, pgpulse.consumer_cells`.execute(
      db,
    );
  return { hours, rows, pending: Math.max(0, pending), skipped: false };
}

import { sql, type Kysely } from 'kysely';
import { ALL_ROUTES } from '../rollups/batch-rollup.js';
import { DAY_MS, HOUR_MS } from '../shared/time.js';
import type { PulseDatabase } from '../schema/database.js';
import type { Interval } from './rollup-cover.js';

/**
 * How a range is read from the cube: whole UTC days and whole hours whose
 * cube buckets are trusted (built from exactly the rows the writer's rollups
 * count now, see migrations/0020_request_cube.sql), and raw rows for the rest
 * (partial hours at the edges, hours not built yet or changed since).
 */
export interface CubeCover {
  /** Day buckets read from day cells (start of each UTC day). */
  days: Date[];
  /** Hour buckets read from hour cells. */
  hours: Date[];
  /** Intervals read from raw rows, merged where adjacent. */
  raw: Interval[];
  /** Hours of the range (whole or partial) read from raw rows because the cube did not have them. */
  unbuiltHours: number;
}

/**
 * Trusted day and hour buckets overlapping [from, to); with `consumers`, only
 * those built with their consumer cells (migration 0050).
 */
export async function trustedBuckets(
  db: Kysely<PulseDatabase>,
  from: Date,
  to: Date,
  options: { consumers?: boolean } = {},
): Promise<{ days: Set<number>; hours: Set<number> }> {
  const consumers = options.consumers === true ? sql`b.consumer_requests is not null` : sql`true`;
  const result = await sql<{ grain: 'hour' | 'day'; bucket: Date }>`
    with rolled as (
      select bucket, sum(requests) as n from pgpulse.rollups
      where grain = 'hour' and route = ${ALL_ROUTES} and bucket >= date_trunc('day', ${from}::timestamptz, 'UTC') and bucket < ${to}
      group by bucket),
    rolled_days as (select date_trunc('day', bucket, 'UTC') as bucket, sum(n) as n from rolled group by 1)
    select b.grain, b.bucket from pgpulse.cube_buckets b
      left join rolled r on b.grain = 'hour' and r.bucket = b.bucket
      left join rolled_days d on b.grain = 'day' and d.bucket = b.bucket
    where b.bucket >= date_trunc('day', ${from}::timestamptz, 'UTC') and b.bucket < ${to}
      and b.requests = coalesce(case when b.grain = 'hour' then r.n else d.n end, 0) and ${consumers}`.execute(db);
  const days = new Set<number>();
  const hours = new Set<number>();
  for (const row of result.rows) (row.grain === 'day' ? days : hours).add(row.bucket.getTime());
  return { days, hours };
}

/**
 * Splits [from, to) into trusted days (only when `useDays`), trusted hours and
 * raw intervals. Series need hour resolution, so they read with `useDays` off.
 */
export function cubeCover(from: Date, to: Date, trusted: { days: Set<number>; hours: Set<number> }, useDays: boolean): CubeCover {
  const lo = from.getTime();
  const hi = to.getTime();
  const cover: CubeCover = { days: [], hours: [], raw: [], unbuiltHours: 0 };
  const raw = (a: number, b: number) => {
    const last = cover.raw[cover.raw.length - 1];
    if (last && last[1].getTime() === a) cover.raw[cover.raw.length - 1] = [last[0], new Date(b)];
    else cover.raw.push([new Date(a), new Date(b)]);
  };
  let t = lo;
  while (t < hi) {
    if (useDays && t % DAY_MS === 0 && t + DAY_MS <= hi && trusted.days.has(t)) {
      cover.days.push(new Date(t));
      t += DAY_MS;
      continue;
    }
    const hourEnd = Math.floor(t / HOUR_MS) * HOUR_MS + HOUR_MS;
    if (t % HOUR_MS === 0 && hourEnd <= hi && trusted.hours.has(t)) {
      cover.hours.push(new Date(t));
    } else {
      // A partial hour at an edge is raw by design; a whole hour is raw because the cube lacks it.
      if (t % HOUR_MS === 0 && hourEnd <= hi) cover.unbuiltHours++;
      raw(t, Math.min(hi, hourEnd));
    }
    t = Math.min(hi, hourEnd);
  }
  return cover;
}

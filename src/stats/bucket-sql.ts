import { sql, type RawBuilder } from 'kysely';

/** Bucket start of each row: fixed-size bins aligned on local midnight, or local calendar days. */
export function bucketExpression(size: number, from: Date, tz: string, column: RawBuilder<unknown> = sql`inserted_at`): RawBuilder<unknown> {
  if (size >= 86_400) return sql`(date_trunc('day', ${column} at time zone ${tz}) at time zone ${tz})`;
  return sql`date_bin(${`${size} seconds`}::interval, ${column}, ${localMidnight(from, tz)})`;
}

/** Every bucket start in the range, so empty buckets show as zero. */
export function bucketSeries(size: number, from: Date, to: Date, tz: string): RawBuilder<unknown> {
  if (size >= 86_400) {
    return sql`select (d at time zone ${tz}) as t from generate_series(date_trunc('day', ${from}::timestamptz at time zone ${tz}), ${to}::timestamptz at time zone ${tz}, interval '1 day') d`;
  }
  return sql`select generate_series(date_bin(${`${size} seconds`}::interval, ${from}::timestamptz, ${localMidnight(from, tz)}), ${to}::timestamptz - interval '1 microsecond', ${`${size} seconds`}::interval) as t`;
}

function localMidnight(from: Date, tz: string): RawBuilder<unknown> {
  return sql`(date_trunc('day', ${from}::timestamptz at time zone ${tz}) at time zone ${tz})`;
}

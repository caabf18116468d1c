/**
 * Where the error figures of a range are read: `pgpulse.error_rollups` for
 * the whole minutes (and, when the chart's buckets allow, whole hours) inside
 * it, raw rows for the partial minutes at its edges. Exact either way: the
 * rollups count every stored error row by `inserted_at`, as the raw rows do.
 */
import { sql, type RawBuilder } from 'kysely';
import { HOUR_MS, MINUTE_MS } from '../shared/time.js';
import { filterCondition, filterKeys, type StatsFilters } from './stats-filters.js';

type Interval = readonly [Date, Date];

/** The parts of a range each source answers (empty intervals left out). */
export interface ErrorCover {
  /** Read from raw rows (`error_fingerprint is not null`, with every filter). */
  raw: Interval[];
  /** Read from minute rollups. */
  minutes: Interval[];
  /** Read from hour rollups. */
  hours: Interval[];
}

/** Whether error rollups answer these filters: none, or one route (`''`: rows without a route, stored as `''`). */
export function rollupsAnswer(filters: StatsFilters): boolean {
  return filterKeys.every((key) => key === 'route' || filters[key] === undefined);
}

/** Offset of `tz` from UTC at `at`, in minutes (e.g. 330 for Asia/Kolkata). */
function offsetMinutes(at: Date, tz: string): number {
  const name = new Intl.DateTimeFormat('en', { timeZone: tz, timeZoneName: 'longOffset' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name ?? '');
  if (!match) return 0;
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3] ?? 0));
}

const ceilTo = (t: number, size: number) => Math.ceil(t / size) * size;
const floorTo = (t: number, size: number) => Math.floor(t / size) * size;
const nonEmpty = (parts: Interval[]) => parts.filter(([a, b]) => a < b);

/**
 * The cover of `[from, to)` for chart buckets of `bucketSeconds`: everything
 * raw when rollups cannot answer (filters, or buckets finer than a minute);
 * hour rollups only when buckets are whole hours in a zone whose offset is
 * whole hours at both ends (so an hour cell never straddles a bucket).
 */
export function errorCover(from: Date, to: Date, tz: string, bucketSeconds: number, filters: StatsFilters): ErrorCover {
  const all: ErrorCover = { raw: [[from, to]], minutes: [], hours: [] };
  if (!rollupsAnswer(filters) || bucketSeconds < 60) return all;
  const m0 = ceilTo(from.getTime(), MINUTE_MS);
  const m1 = floorTo(to.getTime(), MINUTE_MS);
  if (m0 >= m1) return all;
  const raw = nonEmpty([
    [from, new Date(m0)],
    [new Date(m1), to],
  ]);
  const h0 = ceilTo(m0, HOUR_MS);
  const h1 = floorTo(m1, HOUR_MS);
  const wholeHours = bucketSeconds >= 3_600 && offsetMinutes(from, tz) % 60 === 0 && offsetMinutes(to, tz) % 60 === 0;
  if (!wholeHours || h0 >= h1) return { raw, minutes: [[new Date(m0), new Date(m1)]], hours: [] };
  return {
    raw,
    minutes: nonEmpty([
      [new Date(m0), new Date(h0)],
      [new Date(h1), new Date(m1)],
    ]),
    hours: [[new Date(h0), new Date(h1)]],
  };
}

const within = (column: RawBuilder<unknown>, parts: readonly Interval[]) =>
  sql`(${sql.join(
    parts.map(([a, b]) => sql`(${column} >= ${a} and ${column} < ${b})`),
    sql` or `,
  )})`;

/**
 * Error cells of a cover: `bucket` (a rollup bucket start, or a raw row's
 * `inserted_at`), `fingerprint`, `route` ('' for none), `count`, `last_seen`.
 * `fingerprint` restricts them to one group. Shards are separate cells: sum them.
 */
export function errorCells(cover: ErrorCover, filters: StatsFilters, fingerprint?: string): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  const route = filters.route === undefined ? sql`true` : sql`route = ${filters.route}`;
  const one = fingerprint === undefined ? sql`true` : sql`fingerprint = ${fingerprint}`;
  for (const [grain, intervals] of [
    ['minute', cover.minutes],
    ['hour', cover.hours],
  ] as const) {
    if (intervals.length === 0) continue;
    parts.push(sql`select bucket, fingerprint, route, count::bigint as count, last_seen from pgpulse.error_rollups
      where grain = ${grain} and ${within(sql`bucket`, intervals)} and ${route} and ${one}`);
  }
  if (cover.raw.length > 0) {
    const oneRaw = fingerprint === undefined ? sql`error_fingerprint is not null` : sql`error_fingerprint = ${fingerprint}`;
    parts.push(sql`select inserted_at as bucket, error_fingerprint as fingerprint, coalesce(route, '') as route, 1::bigint as count, inserted_at as last_seen
      from pgpulse.request_logs where ${within(sql`inserted_at`, cover.raw)} and ${oneRaw} and ${filterCondition(filters)}`);
  }
  return sql.join(parts, sql` union all `);
}

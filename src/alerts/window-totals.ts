import { sql, type Kysely } from 'kysely';
import { ALL_ROUTES } from '../rollups/batch-rollup.js';
import { denseHistogram, densePercentiles, type DenseHistogram } from '../rollups/latency-histogram.js';
import { MINUTE_MS } from '../shared/time.js';
import type { PulseDatabase } from '../schema/database.js';

/** Requests, 5xx answers and the latency histogram of a time window. */
export interface WindowTotals {
  /** Route pattern ('' when unknown); null for all requests together. */
  route: string | null;
  requests: number;
  errors: number;
  histogram: DenseHistogram;
}

/** The 95th percentile of a window's durations (ms, within 2%: the rollups' histogram), null when empty. */
export function p95Of(totals: WindowTotals): number | null {
  return densePercentiles(totals.histogram, [0.95])[0] ?? null;
}

/**
 * Splits [from, to) into whole minutes (read from the minute rollups) and the
 * edges around them (read from raw rows, at most two minutes of them).
 */
function minuteCover(from: Date, to: Date): { a: Date; b: Date } {
  const a = Math.ceil(from.getTime() / MINUTE_MS) * MINUTE_MS;
  const b = Math.floor(to.getTime() / MINUTE_MS) * MINUTE_MS;
  // No whole minute inside: the window is all edge.
  return a <= b ? { a: new Date(a), b: new Date(b) } : { a: to, b: to };
}

/**
 * Exact totals of all requests in [from, to): the minute rollups for the whole
 * minutes inside (the writer maintains them in the insert's transaction, so
 * they agree with the committed rows) and raw rows for the edges.
 */
export async function windowTotals(db: Kysely<PulseDatabase>, from: Date, to: Date): Promise<WindowTotals> {
  const { a, b } = minuteCover(from, to);
  const result = await sql<{ i: number | null; n: string; e: string }>`
    select i, sum(n) as n, sum(e) as e from (
      select u.i, u.c as n, 0 as e from pgpulse.rollups r, unnest(r.hist_idx, r.hist_cnt) as u(i, c)
      where r.grain = 'minute' and r.route = ${ALL_ROUTES} and r.bucket >= ${a} and r.bucket < ${b}
      union all
      select null, 0, s5 from pgpulse.rollups
      where grain = 'minute' and route = ${ALL_ROUTES} and bucket >= ${a} and bucket < ${b}
      union all
      select pgpulse.latency_bucket(duration_ms), count(*), count(*) filter (where status_code >= 500)
      from pgpulse.request_logs
      where (inserted_at >= ${from} and inserted_at < ${a}) or (inserted_at >= ${b} and inserted_at < ${to})
      group by 1
    ) t group by i`.execute(db);
  const totals: WindowTotals = { route: null, requests: 0, errors: 0, histogram: denseHistogram() };
  for (const row of result.rows) {
    totals.errors += Number(row.e);
    if (row.i === null) continue;
    totals.requests += Number(row.n);
    totals.histogram[row.i]! += Number(row.n);
  }
  return totals;
}

/**
 * Totals per route of [from, to) (or of one route), from raw rows: the
 * minute rollups keep all routes together, so per-route windows are bounded
 * (MAX_ROUTE_WINDOW_MS) and read through the inserted_at index. The `limit`
 * busiest routes.
 */
export async function routeWindowTotals(db: Kysely<PulseDatabase>, from: Date, to: Date, route: string | null, limit = 200): Promise<WindowTotals[]> {
  const result = await sql<{ route: string; i: number; n: string; e: string }>`
    with rows as (
      select coalesce(route, '') as route, pgpulse.latency_bucket(duration_ms) as i, count(*) as n, count(*) filter (where status_code >= 500) as e
      from pgpulse.request_logs
      where inserted_at >= ${from} and inserted_at < ${to} and (${route}::text is null or coalesce(route, '') = ${route})
      group by 1, 2),
    busiest as (select route from rows group by route order by sum(n) desc, route limit ${limit})
    select route, i, n, e from rows join busiest using (route)`.execute(db);
  const byRoute = new Map<string, WindowTotals>();
  for (const row of result.rows) {
    let totals = byRoute.get(row.route);
    if (!totals) byRoute.set(row.route, (totals = { route: row.route, requests: 0, errors: 0, histogram: denseHistogram() }));
    totals.requests += Number(row.n);
    totals.errors += Number(row.e);
    totals.histogram[row.i]! += Number(row.n);
  }
  return [...byRoute.values()];
}

/** Whether any request is in the minute rollups of the `lookbackMs` before `before` (bucket starts before it). */
export async function hadTrafficBefore(db: Kysely<PulseDatabase>, before: Date, lookbackMs: number): Promise<boolean> {
  const result = await sql<{ ok: boolean }>`
    select exists (select 1 from pgpulse.rollups where grain = 'minute' and route = ${ALL_ROUTES}
      and bucket >= ${new Date(before.getTime() - lookbackMs)} and bucket < ${before} and requests > 0) as ok`.execute(db);
  return result.rows[0]?.ok === true;
}

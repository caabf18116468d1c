import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { normalizeHosts } from './query-filters.js';
import { queryRawStats } from './raw-stats.js';
import { queryRollupStats } from './rollup-stats.js';
import { sampledPathLists } from './sampled-paths.js';
import { cubeAnswers } from './cube-cells.js';
import { cubeCover, trustedBuckets, type CubeCover } from './cube-cover.js';
import { queryConsumers } from './consumer-stats.js';
import { queryCubeStats, type CubeTrust } from './cube-stats.js';
import { ALL_ROUTES } from '../rollups/batch-rollup.js';
import { hasFilters, rollupSelection } from './stats-filters.js';
import { HOUR_MS } from '../shared/time.js';
import { needsRawRows } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';
import type { CountStat, Stats } from './stats.js';
import { z } from 'zod';
import { parseOption } from '../shared/option-schema.js';

/** The statement timeout of the stats queries, in ms (the dashboard's `statsTimeoutMs`). */
const statsTimeoutSchema = z.number({ error: 'must be a positive integer' }).int().positive().default(15_000);

export interface QueryStatsOptions {
  /** Longest the queries may run before Postgres cancels them. Default 15,000 ms. */
  timeoutMs?: number;
  /** Referrer hosts left out of the referrers list (the app's own host: internal navigation). Default none. */
  ownHosts?: readonly string[];
}

/** Ranges up to this long are computed exactly from raw rows; longer ones from rollups. */
export const RAW_MAX_RANGE_MS = 15 * 60_000;

/**
 * Whole hours of a range the cube may lack (read from raw rows instead) before
 * the rollups, or raw rows, answer the whole range: a tenth of the range (the
 * hours the builder has not reached yet, e.g. just after they closed).
 */
const maxUnbuiltHours = (from: Date, to: Date) => Math.floor((to.getTime() - from.getTime()) / HOUR_MS / 10);

/**
 * Stats from the request cube, or undefined when it has not built enough of
 * the range yet (more than {@link maxUnbuiltHours} hours: its raw parts would
 * be slow). With filters, top paths and 404s come from a sample.
 */
async function cubeStats(db: Kysely<PulseDatabase>, params: StatsParams, ownHosts: readonly string[]): Promise<Stats | undefined> {
  const { from, to } = params;
  const trust = await trustedBuckets(db, from, to, { consumers: params.consumer !== undefined });
  const cover = cubeCover(from, to, trust, false);
  // Nothing to gain from the cube when it has no bucket of the range (a range within one hour, or not built yet).
  if (cover.hours.length === 0 || cover.unbuiltHours > maxUnbuiltHours(from, to)) return undefined;
  const stats = await (rollupSelection(params) === null
    ? queryCubeStats(db, params, trust, ownHosts, to.getTime() - from.getTime() > CUBE_HOURLY_MAX_RANGE_MS ? 'daily' : 'hourly')
    : withRollupSeries(db, params, trust, ownHosts));
  if (hasFilters(params)) {
    const range = await sql<{ n: string | null }>`select sum(requests) as n from pgpulse.rollups where grain = 'hour' and route = ${ALL_ROUTES}
      and bucket >= date_trunc('hour', ${from}::timestamptz, 'UTC') and bucket < ${to}`.execute(db);
    const sampled = await sampledPathLists(db, params, Number(range.rows[0]?.n ?? 0), stats.totals.requests);
    stats.topPaths = sampled.topPaths;
    stats.notFound = sampled.notFound;
    // Nothing sampled (the whole selection read): the lists are exact.
    stats.range.sampledPercent = sampled.percent >= 100 ? null : sampled.percent;
    stats.range.sampledMargin = sampled.percent >= 100 ? null : sampled.margin;
  }
  return stats;
}

/** Longest range whose filtered series the cube draws per hour (hour cells); longer ones per UTC day (day cells). */
export const CUBE_HOURLY_MAX_RANGE_MS = 2 * 86_400_000;

/**
 * Cube breakdowns with the series (and percentiles) of the writer's rollups,
 * where they have a key for the filters (none, a route, one dimension value):
 * their minute rollups draw finer charts than the cube's hours.
 */
async function withRollupSeries(db: Kysely<PulseDatabase>, params: StatsParams, trust: CubeTrust, ownHosts: readonly string[]): Promise<Stats> {
  const [rollups, cube] = await Promise.all([queryRollupStats(db, params, ownHosts, { sample: false }), queryCubeStats(db, params, trust, ownHosts, 'none')]);
  const base = {
    ...cube,
    range: { ...cube.range, bucketSeconds: rollups.range.bucketSeconds },
    totals: { ...cube.totals, p50: rollups.totals.p50, p95: rollups.totals.p95, p99: rollups.totals.p99 },
    series: rollups.series,
  };
  if (hasFilters(params)) return base;
  // Without filters the cube's value rows answer totals, status codes, referrers and top keys; the rollups the rest.
  const values = (list: CountStat[]) => list.map(({ key, requests }) => ({ key, requests, visitors: null }));
  return {
    ...base,
    topRoutes: rollups.topRoutes,
    slowestRoutes: rollups.slowestRoutes,
    devices: rollups.devices,
    browsers: values(rollups.browsers),
    operatingSystems: values(rollups.operatingSystems),
    countries: values(rollups.countries),
    nodes: values(rollups.nodes),
  };
}

/**
 * Dashboard statistics over `[from, to)`, bucketed in the caller's time zone:
 * exact from raw rows up to {@link RAW_MAX_RANGE_MS} (or with filters rollups
 * have no key for, see `rollupSelection`), from rollups beyond. Every value reaches Postgres as a bind parameter.
 * The queries share one read-only transaction (one pooled connection, so a
 * dashboard never starves the app's writer) with a statement timeout.
 */
export async function queryStats(db: Kysely<PulseDatabase>, params: StatsParams, options: QueryStatsOptions = {}): Promise<Stats> {
  const timeoutMs = parseOption('pgpulse dashboard', 'statsTimeoutMs', statsTimeoutSchema, options.timeoutMs);
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    // Long ranges read rollups: a few thousand rows instead of millions. Filters
    // rollups have no key for (several at once, path, referrer, status…) read raw rows.
    const ownHosts = normalizeHosts(options.ownHosts);
    // So does the breakdown by a custom attribute (attributes have no rollups).
    const long = params.to.getTime() - params.from.getTime() > RAW_MAX_RANGE_MS;
    const stats = await (async () => {
      if (long && cubeAnswers(params) && params.attributeKey === undefined) {
        const cube = await cubeStats(trx, params, ownHosts);
        if (cube) return cube;
      }
      if (long && !needsRawRows(params) && params.attributeKey === undefined) return queryRollupStats(trx, params, ownHosts);
      return queryRawStats(trx, params, ownHosts);
    })();
    const consumers = await queryConsumers(trx, await consumerCover(trx, params, long), params);
    return { ...stats, consumers: consumers.consumers, consumerCount: consumers.count };
  });
}

/**
 * How the consumers list reads a range: consumer cells of trusted buckets
 * (raw rows for the rest) on long ranges the cube answers, raw rows otherwise.
 */
async function consumerCover(db: Kysely<PulseDatabase>, params: StatsParams, long: boolean): Promise<CubeCover> {
  const { from, to } = params;
  if (!long || !cubeAnswers(params)) return { days: [], hours: [], raw: [[from, to]], unbuiltHours: 0 };
  return cubeCover(from, to, await trustedBuckets(db, from, to, { consumers: true }), true);
}

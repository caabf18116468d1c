import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../store/database.js';
import { normalizeHosts } from './query-filters.js';
import { queryRawStats } from './raw-stats.js';
import { queryRollupStats } from './rollup-stats.js';
import { needsRawRows } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';
import type { Stats } from './stats.js';

export interface QueryStatsOptions {
  /** Longest the queries may run before Postgres cancels them. Default 15,000 ms. */
  timeoutMs?: number;
  /** Referrer hosts left out of the referrers list (the app's own host: internal navigation). Default none. */
  ownHosts?: readonly string[];
}

/** Ranges up to this long are computed exactly from raw rows; longer ones from rollups. */
export const RAW_MAX_RANGE_MS = 15 * 60_000;

/**
 * Dashboard statistics over `[from, to)`, bucketed in the caller's time zone:
 * exact from raw rows up to {@link RAW_MAX_RANGE_MS} (or with filters rollups
 * have no key for, see `rollupSelection`), from rollups beyond. Every value reaches Postgres as a bind parameter.
 * The queries share one read-only transaction (one pooled connection, so a
 * dashboard never starves the app's writer) with a statement timeout.
 */
export async function queryStats(db: Kysely<PulseDatabase>, params: StatsParams, options: QueryStatsOptions = {}): Promise<Stats> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`pgpulse dashboard: statsTimeoutMs must be a positive integer, got ${timeoutMs}`);
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    // Long ranges read rollups: a few thousand rows instead of millions. Filters
    // rollups have no key for (several at once, path, referrer, status…) read raw rows.
    const ownHosts = normalizeHosts(options.ownHosts);
    // So does the breakdown by a custom attribute (attributes have no rollups).
    if (params.to.getTime() - params.from.getTime() > RAW_MAX_RANGE_MS && !needsRawRows(params) && params.attributeKey === undefined) {
      return queryRollupStats(trx, params, ownHosts);
    }
    return queryRawStats(trx, params, ownHosts);
  });
}

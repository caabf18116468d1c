import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { filterCondition } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';
import { TOP_N, type CountStat } from './stats.js';

/** Most attribute keys `GET /api/attributes` lists. */
export const MAX_ATTRIBUTE_KEYS = 20;

/** What `GET /api/attributes` answers: the custom attribute keys of a range, and the values of one. */
export interface AttributeStats {
  /** The keys the range's rows (under the filters) carry, most requests first, at most {@link MAX_ATTRIBUTE_KEYS}. */
  keys: { key: string; requests: number }[];
  /** `attributeKey` when asked, else the most used key of {@link keys}; null when there is none. */
  key: string | null;
  /**
   * The values of `key` (as text; rows without it left out), most requests
   * first, at most 10, with distinct visitors: what `GET /api/stats` answers
   * in `attributes.values` for the same `attributeKey`. Empty without a key.
   */
  values: CountStat[];
}

/**
 * The dashboard's Attributes panel: which custom attribute keys the range has
 * and the value breakdown of one (`attributeKey`), under the filters. Raw rows
 * (attributes have no rollups), read-only, cancelled after `timeoutMs`; two
 * aggregates only, so it costs far less than the stats answer with an
 * `attributeKey`, which reads every list of the range from raw rows.
 */
export async function queryAttributeStats(db: Kysely<PulseDatabase>, params: StatsParams, timeoutMs = 15_000): Promise<AttributeStats> {
  const where = sql`inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}`;
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    const keys = await sql<{ key: string; requests: number }>`
      select k as key, count(*)::int as requests
      from pgpulse.request_logs, jsonb_object_keys(attributes) k
      where ${where} and jsonb_typeof(attributes) = 'object'
      group by k order by requests desc, k limit ${MAX_ATTRIBUTE_KEYS}`.execute(trx);
    const key = params.attributeKey ?? keys.rows[0]?.key ?? null;
    const values =
      key === null
        ? { rows: [] }
        : await sql<CountStat & { visitors: number }>`
            select attributes ->> ${key} as key, count(*)::int as requests, count(distinct visitor_id)::int as visitors
            from pgpulse.request_logs where ${where} and attributes ->> ${key} is not null
            group by 1 order by requests desc, 1 limit ${TOP_N}`.execute(trx);
    return { keys: keys.rows, key, values: values.rows };
  });
}

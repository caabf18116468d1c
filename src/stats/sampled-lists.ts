/**
 * Top lists estimated from a `TABLESAMPLE SYSTEM` sample of a range's raw
 * rows (counts scaled up): what rollups and the cube have no key for (paths,
 * referrers, 404s) and, with a filter, the breakdowns rollups cannot select.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { referrerHostCondition } from './query-filters.js';
import { num, TOP_N, type CountStat, type RouteStat, type Stats } from './stats.js';
import { REFERRER_HOST_SQL } from './stats-filters.js';

/**
 * Top paths, referrers and 404s of a rollup range (and with a filter the other
 * breakdowns) are estimated from a
 * `TABLESAMPLE SYSTEM` sample of about this many raw rows (counts scaled up).
 */
export const SAMPLE_ROWS = 25_000;

/**
 * With a filter the sample reads more rows to keep about {@link SAMPLE_ROWS}
 * selected ones, but never more than about this many rows of the range: a rare
 * value gets fewer sampled rows instead of a scan of the whole range.
 */
export const MAX_SAMPLE_SCAN_ROWS = 250_000;

/**
 * The percentage of a range's rows to sample: about {@link SAMPLE_ROWS} of
 * the `selected` rows, reading at most about {@link MAX_SAMPLE_SCAN_ROWS} of
 * its `rangeRows` (all rows, selected or not); at least 0.01%.
 */
export function samplePercent(selected: number, rangeRows: number): number {
  const share = Math.min(selected <= SAMPLE_ROWS ? 1 : SAMPLE_ROWS / selected, rangeRows <= MAX_SAMPLE_SCAN_ROWS ? 1 : MAX_SAMPLE_SCAN_ROWS / rangeRows);
  return Math.max(0.01, share * 100);
}

/** Top lists a sample answers: without a filter only those rollups have no key for; with one, every breakdown (and routes). */
export const SAMPLED_UNFILTERED = ['topPaths', 'referrers', 'notFound', 'refererHosts'] as const;
export const SAMPLED_FILTERED = [...SAMPLED_UNFILTERED, 'browsers', 'operatingSystems', 'countries', 'nodes', 'devices', 'routes'] as const;
type SampledList = (typeof SAMPLED_FILTERED)[number];
export type SampledLists = Pick<Stats, (typeof SAMPLED_UNFILTERED)[number]> & Partial<Pick<Stats, Exclude<SampledList, 'routes'>>> & { routes?: RouteStat[] };

/** The sample of the range: `percent` of its rows' pages, the same pages on every call. */
function sampleOf(from: Date, to: Date, condition: RawBuilder<unknown>, percent: number, columns: RawBuilder<unknown>): RawBuilder<unknown> {
  // A fixed seed picks the same pages on every refresh: they stay cached (a cold
  // sample of 30 days of 10M rows reads ~450 random pages, ~50-70 ms; warm ~17 ms)
  // and the top lists do not jitter between refreshes.
  const sample = percent >= 100 ? sql`` : sql`tablesample system (${percent}) repeatable (0)`;
  return sql`select ${columns} from pgpulse.request_logs ${sample} where inserted_at >= ${from} and inserted_at < ${to} and ${condition}`;
}

/**
 * Top lists of the sampled rows, in one scan of the sample: counts scaled up;
 * `routes` also carries errors and the percentiles of the sampled durations.
 */
export async function sampledTopLists(
  db: Kysely<PulseDatabase>,
  from: Date,
  to: Date,
  condition: RawBuilder<unknown>,
  percent: number,
  ownHosts: readonly string[],
  lists: readonly SampledList[],
): Promise<SampledLists> {
  const scale = 100 / percent;
  const none = sql`null::int as errors, null::float8[] as pct`;
  const top = (kind: string, column: string, filter: string) =>
    sql`(select ${kind}::text as kind, ${sql.ref(column)}::text as key, count(*)::int as n, ${none} from recent where ${sql.raw(filter)} group by 2 order by 3 desc, 2 limit ${TOP_N})`;
  const queries: Record<SampledList, RawBuilder<unknown>> = {
    topPaths: top('topPaths', 'path', 'true'),
    referrers: sql`(select 'referrers', ${REFERRER_HOST_SQL}, count(*)::int, ${none} from recent where ${referrerHostCondition(ownHosts)} group by 2 order by 3 desc, 2 limit ${TOP_N})`,
    notFound: top('notFound', 'path', 'status_code = 404'),
    refererHosts: top('refererHosts', 'referer_host', 'referer_host is not null'),
    browsers: top('browsers', 'browser', 'browser is not null'),
    operatingSystems: top('operatingSystems', 'os', 'os is not null'),
    countries: top('countries', 'country', 'country is not null'),
    nodes: top('nodes', 'node_id', 'true'),
    devices: top('devices', 'device_type', 'true'),
    // Every route of the sample: callers sort them by requests and by p95.
    routes: sql`(select 'routes', route, count(*)::int, count(*) filter (where status_code >= 500)::int,
      percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by duration_ms) from recent group by 2)`,
  };
  const columns = sql`path, referer, status_code, browser, os, country, referer_host, node_id, device_type, route, duration_ms`;
  const result = await sql<{ kind: SampledList; key: string; n: number; errors: number | null; pct: (number | null)[] | null }>`
    with recent as materialized (${sampleOf(from, to, condition, percent, columns)})
    ${sql.join(
      lists.map((list) => queries[list]),
      sql` union all `,
    )}`.execute(db);
  const out: Partial<Record<SampledList, (CountStat | RouteStat)[]>> = {};
  for (const list of lists) out[list] = [];
  for (const r of result.rows) {
    const requests = Math.round(num(r.n) * scale);
    let entry: CountStat | RouteStat;
    if (r.kind === 'routes') {
      entry = { route: r.key, requests, errors: Math.round(num(r.errors) * scale), p50: r.pct?.[0] ?? null, p95: r.pct?.[1] ?? null, p99: r.pct?.[2] ?? null };
    } else if (r.kind === 'devices') {
      entry = { key: r.key, requests }; // devices carry requests only, as everywhere else
    } else {
      entry = { key: r.key, requests, visitors: null };
    }
    out[r.kind]!.push(entry);
  }
  return out as SampledLists;
}

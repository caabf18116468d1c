import { sql, type Kysely, type RawBuilder } from 'kysely';
import { bucketSeconds } from './bucket-size.js';
import type { StatsParams } from './stats-params.js';
import { filterCondition, REFERRER_HOST_SQL } from './stats-filters.js';
import { bucketExpression, bucketSeries } from './bucket-sql.js';
import { filtersOf, normalizeHosts } from './query-filters.js';
import { num, TOP_N, type CountStat, type Percentiles, type RouteStat, type Stats } from './stats.js';
import type { PulseDatabase } from '../schema/database.js';

const pct = (v: unknown): Percentiles => {
  const a = (v as (number | null)[] | null) ?? [null, null, null];
  return { p50: a[0] ?? null, p95: a[1] ?? null, p99: a[2] ?? null };
};

const PERCENTILES = sql`percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by duration_ms)`;

/** One result row of the scan: `kind` names the answer it belongs to. */
interface RawRow {
  kind: string;
  key: string | null;
  t: string | null;
  requests: number;
  visitors: number | null;
  sessions: number | null;
  errors: number;
  client_errors: number;
  bytes: number | null;
  avg_ms: number | string | null;
  pct: (number | null)[] | null;
}

/** Top lists of the scan: answer name → (key expression, condition). */
function topLists(ownHosts: readonly string[], attributeKey: string | undefined): Record<string, [RawBuilder<unknown>, RawBuilder<unknown>]> {
  return {
    topPaths: [sql`path`, sql`true`],
    notFound: [sql`path`, sql`status_code = 404`],
    referrers: [sql`ref_host`, ownHosts.length === 0 ? sql`referer is not null` : sql`referer is not null and ref_host <> all(${ownHosts}::text[])`],
    devices: [sql`device_type`, sql`true`],
    browsers: [sql`browser`, sql`browser is not null`],
    operatingSystems: [sql`os`, sql`os is not null`],
    countries: [sql`country`, sql`country is not null`],
    refererHosts: [sql`referer_host`, sql`referer_host is not null`],
    nodes: [sql`node_id`, sql`true`],
    ...(attributeKey !== undefined && { attributes: [sql`attributes ->> ${attributeKey}`, sql`attributes ->> ${attributeKey} is not null`] }),
  };
}

/**
 * Exact statistics from raw rows, whatever the range (short ranges, path and
 * attribute filters): ONE scan of the range's rows (a materialized CTE of the
 * columns the answers need), every answer a named group of it (`kind`).
 */
export async function queryRawStats(db: Kysely<PulseDatabase>, params: StatsParams, ownHostsIn: readonly string[] = []): Promise<Stats> {
  const ownHosts = normalizeHosts(ownHostsIn);
  const { from, to, tz } = params;
  const size = bucketSeconds(from, to);
  const where = sql`inserted_at >= ${from} and inserted_at < ${to} and ${filterCondition(params)}`;
  const bucket = bucketExpression(size, from, tz);
  const counts = sql`count(*)::int as requests, count(*) filter (where status_code >= 500)::int as errors,
    count(*) filter (where status_code between 400 and 499)::int as client_errors, sum(coalesce(response_bytes, 0))::float8 as bytes`;
  const none = sql`null::int as sessions, null::float8 as avg_ms`;
  const lists = Object.entries(topLists(ownHosts, params.attributeKey)).map(
    ([
      kind,
      [key, condition],
    ]) => sql`(select ${kind}::text as kind, (${key})::text as key, null::float8 as t, ${counts}, count(distinct visitor_id)::int as visitors,
      ${none}, null::float8[] as pct from rows where ${condition} group by 2 order by requests desc, 2 limit ${TOP_N})`,
  );
  const result = await sql<RawRow>`
    with rows as materialized (
      select ${bucket} as bucket, route, path, status_code, duration_ms, response_bytes, visitor_id, session_id, device_type, browser, os, country,
        node_id, referer, referer_host, ${REFERRER_HOST_SQL} as ref_host, attributes
      from pgpulse.request_logs where ${where})
    select 'total' as kind, null::text as key, null::float8 as t, ${counts}, count(distinct visitor_id)::int as visitors,
      count(distinct session_id)::int as sessions, avg(duration_ms) as avg_ms, ${PERCENTILES} as pct from rows
    union all
    select 'series', null, extract(epoch from b.t) * 1000, coalesce(s.requests, 0), coalesce(s.errors, 0), coalesce(s.client_errors, 0), coalesce(s.bytes, 0),
      coalesce(s.visitors, 0), null, null, s.pct
    from (${bucketSeries(size, from, to, tz)}) b left join (
      select bucket, ${counts}, count(distinct visitor_id)::int as visitors, ${PERCENTILES} as pct from rows group by bucket) s on s.bucket = b.t
    union all
    select 'routes', route, null, ${counts}, count(distinct visitor_id)::int, ${none}, ${PERCENTILES} from rows group by route
    union all
    select 'statusCodes', status_code::text, null, ${counts}, count(distinct visitor_id)::int, ${none}, null from rows group by status_code
    union all
    ${sql.join(lists, sql` union all `)}`.execute(db);

  const of = (kind: string) => result.rows.filter((r) => r.kind === kind);
  const list = (kind: string): CountStat[] =>
    of(kind)
      .sort((a, b) => b.requests - a.requests)
      .map((r) => ({ key: r.key, requests: r.requests, visitors: num(r.visitors) }));
  const t = of('total')[0];
  const requests = t?.requests ?? 0;
  const codes = of('statusCodes').sort((a, b) => b.requests - a.requests || Number(a.key) - Number(b.key));
  const statusClass = (digit: number) =>
    codes.filter((c) => Math.min(5, Math.max(1, Math.floor(Number(c.key) / 100))) === digit).reduce((sum, c) => sum + c.requests, 0);
  const routes: RouteStat[] = of('routes').map((r) => ({
    route: r.key,
    requests: r.requests,
    errors: r.errors,
    clientErrors: r.client_errors,
    bytes: num(r.bytes),
    ...pct(r.pct),
  }));
  const bytes = num(t?.bytes);
  const seconds = (to.getTime() - from.getTime()) / 1000;
  const attributeKey = params.attributeKey;
  return {
    range: {
      from: from.toISOString(),
      to: to.toISOString(),
      tz,
      route: params.route ?? null,
      filters: filtersOf(params),
      bucketSeconds: size,
      source: 'raw',
      sampledPercent: null,
    },
    totals: {
      requests,
      visitors: num(t?.visitors),
      sessions: num(t?.sessions),
      errorRate: requests ? num(t?.errors) / requests : 0,
      clientErrorRate: requests ? num(t?.client_errors) / requests : 0,
      avgMs: t?.avg_ms === null || t?.avg_ms === undefined ? null : Number(t.avg_ms),
      status: { '1xx': statusClass(1), '2xx': statusClass(2), '3xx': statusClass(3), '4xx': statusClass(4), '5xx': statusClass(5) },
      bytes,
      bytesPerSecond: seconds > 0 ? bytes / seconds : 0,
      ...pct(t?.pct),
    },
    series: of('series')
      .map((r) => ({ t: Number(r.t), requests: r.requests, visitors: num(r.visitors), errors: r.errors, bytes: num(r.bytes), ...pct(r.pct) }))
      .sort((a, b) => a.t - b.t),
    topRoutes: routes
      .slice()
      .sort((a, b) => b.requests - a.requests || String(a.route).localeCompare(String(b.route)))
      .slice(0, TOP_N),
    slowestRoutes: routes
      .slice()
      .sort((a, b) => (b.p95 ?? -1) - (a.p95 ?? -1) || String(a.route).localeCompare(String(b.route)))
      .slice(0, TOP_N),
    topPaths: list('topPaths'),
    referrers: list('referrers'),
    devices: list('devices'),
    notFound: list('notFound'),
    browsers: list('browsers'),
    operatingSystems: list('operatingSystems'),
    countries: list('countries'),
    refererHosts: list('refererHosts'),
    nodes: list('nodes'),
    statusCodes: codes.map((r) => ({ key: r.key, requests: r.requests, visitors: num(r.visitors) })),
    ...(attributeKey !== undefined && { attributes: { key: attributeKey, values: list('attributes') } }),
  };
}

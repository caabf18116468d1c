import { sql, type Kysely, type RawBuilder } from 'kysely';
import { expect } from 'vitest';
import { REFERRER_HOST_EXPRESSION } from '../../src/rollups/cube-dimensions.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { filterCondition } from '../../src/stats/stats-filters.js';
import type { StatsParams } from '../../src/stats/stats-params.js';
import type { CountStat, Stats } from '../../src/stats/stats.js';

/**
 * Exact answers from raw rows, written independently of the read model (plain
 * GROUP BY and count(distinct)), and the comparison of a `Stats` with them.
 */

type Row = { key: string | null; requests: number; visitors: number };

async function exactList(
  db: Kysely<PulseDatabase>,
  where: RawBuilder<unknown>,
  key: RawBuilder<unknown>,
  extra: RawBuilder<unknown> = sql`true`,
): Promise<Map<string | null, Row>> {
  const result = await sql<Row>`select ${key} as key, count(*)::int as requests, count(distinct visitor_id)::int as visitors
    from pgpulse.request_logs where ${where} and ${extra} group by 1`.execute(db);
  return new Map(result.rows.map((r) => [r.key, r]));
}

/** Checks a top list: every key shown has its exact requests (and visitors when shown), and the counts are the top ones. */
function expectList(name: string, shown: readonly CountStat[], exact: Map<string | null, Row>, limit = 10): void {
  for (const item of shown) {
    const e = exact.get(item.key);
    expect(e, `${name}: ${String(item.key)} is no value of the raw rows`).toBeDefined();
    expect(item.requests, `${name}: requests of ${String(item.key)}`).toBe(e!.requests);
    if (item.visitors !== null && item.visitors !== undefined) expect(item.visitors, `${name}: visitors of ${String(item.key)}`).toBe(e!.visitors);
  }
  const top = [...exact.values()]
    .map((r) => r.requests)
    .sort((a, b) => b - a)
    .slice(0, limit);
  expect(
    shown.map((s) => s.requests),
    `${name}: the top counts`,
  ).toEqual(top.slice(0, shown.length));
  expect(shown.length, `${name}: list length`).toBe(Math.min(limit, exact.size));
}

/** Compares everything the cube answers exactly with raw rows of the same range and filters. */
export async function expectExact(db: Kysely<PulseDatabase>, params: StatsParams, stats: Stats): Promise<void> {
  const where = sql`inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}`;
  const totals = await sql<{ n: number; visitors: number; bytes: string | null; pct: number[] | null }>`
    select count(*)::int as n, count(distinct visitor_id)::int as visitors, sum(coalesce(response_bytes, 0))::text as bytes,
      percentile_cont(array[0.5, 0.95, 0.99]) within group (order by duration_ms) as pct
    from pgpulse.request_logs where ${where}`.execute(db);
  const t = totals.rows[0]!;
  expect(stats.totals.requests, 'requests').toBe(t.n);
  expect(stats.totals.visitors, 'visitors').toBe(t.visitors);
  expect(stats.totals.bytes, 'bytes').toBe(Number(t.bytes ?? 0));
  if (t.pct) {
    for (const [i, q] of (['p50', 'p95', 'p99'] as const).entries()) {
      expect(Math.abs(stats.totals[q]! - t.pct[i]!) / t.pct[i]!, q).toBeLessThan(0.02);
    }
  }
  const codes = await exactList(db, where, sql`status_code::text`);
  expect(Object.fromEntries((stats.statusCodes ?? []).map((c) => [c.key, c.requests])), 'status codes').toEqual(
    Object.fromEntries([...codes.values()].map((c) => [c.key, c.requests])),
  );
  const classes = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 } as Record<string, number>;
  for (const c of codes.values()) classes[`${Math.min(5, Math.max(1, Math.floor(Number(c.key) / 100)))}xx`]! += c.requests;
  expect(stats.totals.status, 'status classes').toEqual(classes);
  const routes = await sql<{ route: string | null; requests: number; errors: number; client_errors: number }>`
    select route, count(*)::int as requests, count(*) filter (where status_code >= 500)::int as errors,
      count(*) filter (where status_code between 400 and 499)::int as client_errors
    from pgpulse.request_logs where ${where} group by 1`.execute(db);
  const byRoute = new Map(routes.rows.map((r) => [r.route, r]));
  for (const r of stats.topRoutes) {
    const e = byRoute.get(r.route);
    expect({ requests: r.requests, errors: r.errors, clientErrors: r.clientErrors }, `route ${String(r.route)}`).toEqual({
      requests: e?.requests,
      errors: e?.errors,
      clientErrors: e?.client_errors,
    });
  }
  expect(
    stats.series.reduce((sum, p) => sum + p.requests, 0),
    'series total',
  ).toBe(t.n);
  const host = sql.raw(REFERRER_HOST_EXPRESSION);
  expectList('devices', stats.devices, await exactList(db, where, sql`device_type`));
  expectList('browsers', stats.browsers, await exactList(db, where, sql`browser`, sql`browser is not null`));
  expectList('operatingSystems', stats.operatingSystems, await exactList(db, where, sql`os`, sql`os is not null`));
  expectList('countries', stats.countries, await exactList(db, where, sql`country`, sql`country is not null`));
  expectList('nodes', stats.nodes, await exactList(db, where, sql`node_id`));
  expectList('referrers', stats.referrers, await exactList(db, where, host, sql`referer is not null`));
}

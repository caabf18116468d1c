// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { queryRawStats } from '../../src/stats/raw-stats.js';
import { parseStatsParams, type StatsParams } from '../../src/stats/stats-params.js';
import { needsRawRows } from '../../src/stats/stats-filters.js';
import type { CountStat, Stats } from '../../src/stats/stats.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';

const HOUR = 3_600_000;
const ROWS = 9_000;
const relative = (a: number | null, b: number | null) => Math.abs((a ?? 0) - (b ?? 0)) / Math.max(1e-9, Math.abs(b ?? 0));
const requestsOf = (list: CountStat[]) => list.map(({ key, requests }) => ({ key, requests }));

function params(query: Record<string, string | number>): StatsParams {
  const parsed = parseStatsParams(new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
}

/** What rollups answer exactly under a filter, comparable with raw stats. */
function exactParts(stats: Stats) {
  return {
    requests: stats.totals.requests,
    status: stats.totals.status,
    avgMs: stats.totals.avgMs === null ? null : Math.round(stats.totals.avgMs * 1e6) / 1e6,
    seriesTotal: stats.series.reduce((sum, p) => sum + p.requests, 0),
    seriesErrors: stats.series.map((p) => p.errors),
  };
}

describe('browser, OS, country and node breakdowns and filters', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  const start = Date.parse('2031-05-06T00:00:00Z');
  const browsers = ['Chrome', 'Safari', 'Firefox', 'Edge', null] as const;
  const oses = ['Windows', 'macOS', 'iOS', null] as const;
  const countries = ['DE', 'US', 'JP', 'FR', 'BR', null] as const;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxRows: 1_000, maintenanceIntervalMs: 0 });
    await pulse.migrate();
    for (let i = 0; i < ROWS; i++) {
      pulse.pubsub.broadcast(
        makeLog({
          // 6 hours, spread unevenly inside minutes so the partial minutes and hours at range edges hold rows.
          inserted_at: new Date(start + Math.floor((i * 6 * HOUR) / ROWS) + ((i * 7_919) % 17_000)),
          browser: browsers[(i * 3) % 5 === 4 ? 4 : i % 4]!,
          os: oses[i % 7 === 0 ? 3 : i % 3]!,
          country: countries[(i >> 2) % 6]!,
          node_id: `node-${(i * 5) % 3}`,
          device_type: i % 9 === 0 ? 'bot' : i % 2 ? 'mobile' : 'desktop',
          status_code: i % 31 === 0 ? 503 : i % 11 === 0 ? 404 : 200,
          duration_ms: 0.3 + ((i * 104_729) % 2_000) / 10,
          route: i % 3 ? '/a/:id' : '/b',
          visitor_id: `v${(i * 13) % 700}`,
        }),
      );
    }
    await pulse.flush();
  }, 120_000);

  afterAll(async () => {
    await pulse.close();
    await database.drop();
  });

  // Not aligned on minutes or hours: whole hours from hour rollups, minutes from minute rollups, seconds from raw rows.
  const from = start + 37 * 60_000 + 13_500;
  const to = start + 5 * HOUR + 11 * 60_000 + 2_500;

  it('without a filter, browsers, OS, countries and nodes on a rollup range are exact (requests) and match raw rows', async () => {
    const p = params({ from, to, tz: 'UTC' });
    const rolled = await queryStats(pulse.db, p);
    const raw = await queryRawStats(pulse.db, p);
    expect(rolled.range.source).toBe('rollups');
    for (const list of ['browsers', 'operatingSystems', 'countries', 'nodes', 'devices'] as const) {
      expect(requestsOf(rolled[list]), list).toEqual(requestsOf(raw[list]));
      expect(rolled[list].length, list).toBeGreaterThan(1);
    }
    expect(rolled.browsers.every((b) => b.visitors === null)).toBe(true);
    // Raw rows count visitors per value, nodes included: exactly as count(distinct visitor_id) over the range.
    expect(raw.browsers.every((b) => typeof b.visitors === 'number' && b.visitors > 0)).toBe(true);
    const exactNodes = await sql<{ key: string | null; requests: number; visitors: number }>`
      select node_id as key, count(*)::int as requests, count(distinct visitor_id)::int as visitors from pgpulse.request_logs
      where inserted_at >= ${new Date(from)} and inserted_at < ${new Date(to)} group by node_id`.execute(pulse.db);
    const byKey = new Map(exactNodes.rows.map((r) => [r.key, r]));
    for (const node of raw.nodes) expect(node, String(node.key)).toEqual(byKey.get(node.key));
  });

  for (const [name, query] of [
    ['browser', { browser: 'Firefox' }],
    ['os', { os: 'iOS' }],
    ['country (any case)', { country: 'de' }],
    ['device', { device: 'mobile' }],
    ['node', { node: 'node-2' }],
  ] as const) {
    it(`a ${name} filter on a rollup range reads the dimension rollups: totals, series and percentiles equal raw rows`, async () => {
      for (const [tz, lo, hi] of [
        ['UTC', from, to], // hour rollups
        ['Asia/Kolkata', from, from + 97 * 60_000], // minute rollups
      ] as const) {
        const p = params({ from: lo, to: hi, tz, ...query });
        expect(needsRawRows(p)).toBe(false);
        const rolled = await queryStats(pulse.db, p);
        const raw = await queryRawStats(pulse.db, p);
        expect(rolled.range.source).toBe('rollups');
        expect(rolled.range.filters).toEqual(raw.range.filters);
        expect(exactParts(rolled)).toEqual(exactParts(raw));
        expect(rolled.totals.requests).toBeGreaterThan(100);
        for (const q of ['p50', 'p95', 'p99'] as const) expect(relative(rolled.totals[q], raw.totals[q]), q).toBeLessThanOrEqual(0.021);
        expect(rolled.totals.visitors).toBeNull();
        // The filtered dimension's own panel shows the one value; the others, and routes, come from the sample.
        expect(rolled.topRoutes.map((r) => r.route).sort()).toEqual(raw.topRoutes.map((r) => r.route).sort());
        const [key, value] = Object.entries(query)[0]!;
        const list = { browser: 'browsers', os: 'operatingSystems', country: 'countries', node: 'nodes', device: 'devices' } as const;
        expect(requestsOf(rolled[list[key as keyof typeof list]])).toEqual([
          { key: key === 'country' ? value.toUpperCase() : value, requests: raw.totals.requests },
        ]);
      }
    });
  }

  it('several filters, or filters without rollups, read raw rows', async () => {
    const queries: Record<string, string>[] = [{ browser: 'Chrome', country: 'US' }, { status: '4xx' }, { path: '/x' }, { route: '/b', os: 'iOS' }];
    for (const query of queries) {
      const p = params({ from, to, tz: 'UTC', ...query });
      expect(needsRawRows(p)).toBe(true);
      const stats = await queryStats(pulse.db, p);
      expect(stats.range.source).toBe('raw');
    }
    const both = await queryStats(pulse.db, params({ from, to, tz: 'UTC', browser: 'Chrome', country: 'US' }));
    expect(both.browsers.map((b) => b.key)).toEqual(['Chrome']);
    expect(both.countries.map((c) => c.key)).toEqual(['US']);
    expect(both.totals.visitors).toBeGreaterThan(0);
  });

  it('on a raw range, breakdowns count requests and visitors and filters apply', async () => {
    const p = params({ from: start + HOUR, to: start + HOUR + 10 * 60_000, tz: 'UTC', country: 'JP' });
    const stats = await queryStats(pulse.db, p);
    expect(stats.range.source).toBe('raw');
    expect(stats.countries.map((c) => c.key)).toEqual(['JP']);
    expect(stats.countries[0]!.requests).toBe(stats.totals.requests);
    expect(stats.browsers.length).toBeGreaterThan(1);
    expect(stats.browsers.every((b) => b.visitors !== null && b.visitors! <= b.requests)).toBe(true);
    expect(stats.range.filters).toEqual({ country: 'JP' });
  });

  it('validates the new filters with zod and ignores unknown parameters', () => {
    const range = { from: String(start), to: String(start + HOUR) };
    expect(parseStatsParams(new URLSearchParams({ ...range, country: 'Germany' })).ok).toBe(false);
    expect(parseStatsParams(new URLSearchParams({ ...range, browser: 'x'.repeat(33) })).ok).toBe(false);
    const ok = parseStatsParams(new URLSearchParams({ ...range, browser: 'Chrome', os: 'macOS', country: 'fr', _: '123' }));
    expect(ok.ok && { browser: ok.params.browser, os: ok.params.os, country: ok.params.country }).toEqual({ browser: 'Chrome', os: 'macOS', country: 'FR' });
  });
});

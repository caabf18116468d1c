// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { queryRawStats } from '../../src/stats/raw-stats.js';
import type { Stats } from '../../src/stats/stats.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const ROWS = 12_000;
const relative = (a: number | null, b: number | null) => Math.abs((a ?? 0) - (b ?? 0)) / Math.max(1e-9, Math.abs(b ?? 0));

/** Everything rollups answer exactly, in a comparable shape. */
function exactParts(stats: Stats) {
  const byRoute = (routes: Stats['topRoutes']) => Object.fromEntries(routes.map((r) => [String(r.route), { requests: r.requests, errors: r.errors }]));
  return {
    requests: stats.totals.requests,
    status: stats.totals.status,
    // Requests per device are exact on every path; visitors per device come from raw rows only (the rollups keep none per device).
    devices: stats.devices.map((d) => ({ key: d.key, requests: d.requests })),
    routes: byRoute(stats.topRoutes),
    seriesTotal: stats.series.reduce((sum, p) => sum + p.requests, 0),
  };
}

describe('rollup stats over ranges not aligned on minutes or hours', () => {
  let pulse: Pulse;
  const start = Date.parse('2031-03-04T00:00:00Z');

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 1_000, maintenanceIntervalMs: 0 });
    const routes = ['/a/:id', '/b', null, '/slow'] as const;
    for (let i = 0; i < ROWS; i++) {
      const route = routes[(i * 7) % 4]!;
      pulse.pubsub.broadcast(
        makeLog({
          // 72 hours, spread unevenly inside minutes so partial minutes and hours hold rows.
          inserted_at: new Date(start + Math.floor((i * 72 * HOUR) / ROWS) + ((i * 7_919) % 17_000)),
          route,
          status_code: i % 31 === 0 ? 503 : i % 11 === 0 ? 404 : 200,
          duration_ms: route === '/slow' ? 300 + (i % 500) : 0.3 + ((i * 104_729) % 2_000) / 10,
          device_type: (['desktop', 'mobile', 'tablet', 'bot'] as const)[i % 5 === 1 ? 1 : i % 9 === 0 ? 3 : i % 13 === 0 ? 2 : 0],
          visitor_id: `v${(i * 13) % 2_000}`,
        }),
      );
    }
    await pulse.flush();
  }, 120_000);

  afterAll(async () => {
    await pulse.close();
  });

  // Hour rollups start on UTC hours, so their chart buckets match raw ones only in
  // zones whose offset is whole hours; minute rollups suit every zone.
  const ranges = {
    'one hour (minute rollups)': [37 * 60_000 + 13_500, 97 * 60_000 + 13_500, 'Asia/Kolkata'],
    'one day (minute rollups)': [5 * HOUR + 59_999, 29 * HOUR + 59_999, 'Asia/Kathmandu'],
    'two days (hour rollups, minute and raw edges)': [HOUR + 37 * 60_000 + 13_500, 50 * HOUR + 11 * 60_000 + 2_250, 'Europe/Paris'],
  } as const;

  for (const [label, [fromOffset, toOffset, tz]] of Object.entries(ranges)) {
    it(`${label}: counts, statuses, devices, series and route counts equal raw rows; percentiles within 2%`, async () => {
      const params = { from: new Date(start + fromOffset), to: new Date(start + toOffset), tz };
      const rolled = await queryStats(pulse.db, params);
      const raw = await queryRawStats(pulse.db, params);
      expect(rolled.range.source).toBe('rollups');
      expect(rolled.range.bucketSeconds).toBeGreaterThanOrEqual(60);
      expect(exactParts(rolled)).toEqual(exactParts(raw));
      expect(rolled.totals.avgMs).toBeCloseTo(raw.totals.avgMs!, 6);
      expect(rolled.range.bucketSeconds).toBe(raw.range.bucketSeconds);
      const points = (stats: Stats) => stats.series.map((p) => [p.t, p.requests, p.errors]);
      expect(points(rolled)).toEqual(points(raw));
      for (const p of ['p50', 'p95', 'p99'] as const) expect(relative(rolled.totals[p], raw.totals[p]), p).toBeLessThan(0.02);
      for (const route of rolled.topRoutes) {
        const exact = raw.topRoutes.find((r) => r.route === route.route)!;
        expect(relative(route.p95, exact.p95), String(route.route)).toBeLessThan(0.02);
      }
      expect(relative(rolled.totals.visitors, raw.totals.visitors)).toBeLessThan(0.1);
    });
  }

  it('a route filter over hour rollups counts exactly too', async () => {
    const params = { from: new Date(start + 3 * HOUR + 1_234), to: new Date(start + 70 * HOUR - 4_321), tz: 'UTC', route: '/slow' };
    const rolled = await queryStats(pulse.db, params);
    const raw = await queryRawStats(pulse.db, params);
    expect(rolled.totals.requests).toBe(raw.totals.requests);
    expect(rolled.totals.status).toEqual(raw.totals.status);
    expect(rolled.series.reduce((sum, p) => sum + p.requests, 0)).toBe(raw.totals.requests);
    for (const p of ['p50', 'p95', 'p99'] as const) expect(relative(rolled.totals[p], raw.totals[p]), p).toBeLessThan(0.02);
  });
});

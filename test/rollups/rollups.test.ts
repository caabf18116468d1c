import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { queryRawStats } from '../../src/stats/raw-stats.js';
import { hllAdd, hllEstimate, hllMerge, HLL_REGISTERS } from '../../src/rollups/hyperloglog.js';
import { bucketValue, histogramPercentiles, latencyBucket } from '../../src/rollups/latency-histogram.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const relative = (a: number | null, b: number | null) => Math.abs((a ?? 0) - (b ?? 0)) / Math.max(1e-9, Math.abs(b ?? 0));

type SketchDbRow = { grain: string; bucket: Date; hll: Buffer };

/** Rollup rows with the shards of each (grain, bucket, route) added up, as readers see them. */
function mergeShards(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const merged = new Map<string, Record<string, unknown>>();
  for (const { shard: _shard, ...row } of rows) {
    const key = `${row.grain as string}|${(row.bucket as Date).toISOString()}|${row.route as string}`;
    const seen = merged.get(key);
    if (!seen) {
      merged.set(key, { ...row, hist: new Map((row.hist_idx as number[]).map((b, i) => [b, (row.hist_cnt as number[])[i]!])) });
      continue;
    }
    for (const [name, value] of Object.entries(row)) if (typeof value === 'number' && name !== 'hist') seen[name] = (seen[name] as number) + value;
    const hist = seen.hist as Map<number, number>;
    (row.hist_idx as number[]).forEach((b, i) => hist.set(b, (hist.get(b) ?? 0) + (row.hist_cnt as number[])[i]!));
  }
  return [...merged.values()].map(({ hist, hist_idx: _i, hist_cnt: _c, ...row }) => {
    const sorted = [...(hist as Map<number, number>)].sort((a, b) => a[0] - b[0]);
    return { ...row, hist_idx: sorted.map(([b]) => b), hist_cnt: sorted.map(([, n]) => n) };
  });
}

/** Visitor sketches with the shards of each (grain, bucket) merged (register maximum), hex. */
function mergeSketches(rows: readonly SketchDbRow[]): { grain: string; bucket: Date; hll: string }[] {
  const merged = new Map<string, { grain: string; bucket: Date; registers: Uint8Array }>();
  for (const row of rows) {
    const key = `${row.grain}|${row.bucket.toISOString()}`;
    let seen = merged.get(key);
    if (!seen) merged.set(key, (seen = { grain: row.grain, bucket: row.bucket, registers: new Uint8Array(HLL_REGISTERS) }));
    hllMerge(seen.registers, row.hll);
  }
  return [...merged.values()].map((s) => ({ grain: s.grain, bucket: s.bucket, hll: Buffer.from(s.registers).toString('hex') }));
}

describe('latency histogram and HyperLogLog', () => {
  it('reads any percentile within 2% of the sample', () => {
    for (const d of [0.02, 0.7, 3.3, 48, 999, 12_345]) expect(relative(bucketValue(latencyBucket(d)), d)).toBeLessThanOrEqual(0.02);
    const histogram = new Map<number, number>();
    const values = Array.from({ length: 10_000 }, (_, i) => Math.exp((i % 997) / 120));
    for (const v of values) histogram.set(latencyBucket(v), (histogram.get(latencyBucket(v)) ?? 0) + 1);
    const sorted = [...values].sort((a, b) => a - b);
    const [p50, p99] = histogramPercentiles(histogram, [0.5, 0.99]);
    expect(relative(p50!, sorted[Math.floor(0.5 * 9_999)]!)).toBeLessThanOrEqual(0.021);
    expect(relative(p99!, sorted[Math.floor(0.99 * 9_999)]!)).toBeLessThanOrEqual(0.021);
  });

  it('estimates distinct counts within a few percent', () => {
    for (const n of [10, 1_000, 50_000]) {
      const registers = new Uint8Array(HLL_REGISTERS);
      for (let i = 0; i < n; i++) hllAdd(registers, `visitor-${i}`);
      for (let i = 0; i < n; i++) hllAdd(registers, `visitor-${i}`);
      expect(relative(hllEstimate(registers), n)).toBeLessThan(0.1);
    }
  });
});

describe('rollups', () => {
  let pulse: Pulse;
  const start = Date.parse('2031-02-03T00:00:00Z');

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 500 });
    const routes = ['/a/:id', '/b', null, '/slow'] as const;
    for (let i = 0; i < 20_000; i++) {
      const route = routes[i % 4]!;
      pulse.pubsub.broadcast(
        makeLog({
          inserted_at: new Date(start + (i * 48 * HOUR) / 20_000),
          route,
          path: `/p/${i % 37}`,
          status_code: i % 29 === 0 ? 500 : i % 13 === 0 ? 404 : 200,
          duration_ms: route === '/slow' ? 200 + (i % 300) : 0.5 + ((i * 7919) % 1000) / 10,
          device_type: (['desktop', 'mobile', 'tablet', 'bot'] as const)[i % 4 === 1 ? 1 : i % 7 === 0 ? 3 : 0],
          visitor_id: `v${i % 1_500}`,
          referer: i % 5 === 0 ? 'https://ref.example/' : null,
        }),
      );
    }
    await pulse.flush();
  }, 120_000);

  afterAll(async () => {
    await pulse.close();
  });

  it('answers long ranges from rollups matching raw rows: counts exactly, percentiles within 2%, visitors within 5%', async () => {
    const params = { from: new Date(start), to: new Date(start + 48 * HOUR), tz: 'UTC' };
    const rolled = await queryStats(pulse.db, params);
    const raw = await queryRawStats(pulse.db, params);
    expect(rolled.range.source).toBe('rollups');
    expect(rolled.totals.requests).toBe(20_000);
    expect(rolled.totals.status).toEqual(raw.totals.status);
    expect(rolled.totals.errorRate).toBeCloseTo(raw.totals.errorRate, 10);
    expect(rolled.totals.avgMs).toBeCloseTo(raw.totals.avgMs!, 6);
    for (const p of ['p50', 'p95', 'p99'] as const) expect(relative(rolled.totals[p], raw.totals[p]), p).toBeLessThanOrEqual(0.02);
    expect(relative(rolled.totals.visitors, raw.totals.visitors)).toBeLessThan(0.05);
    // Raw rows count visitors per device too; the rollups count requests.
    expect(rolled.devices).toEqual(raw.devices.map(({ key, requests }) => ({ key, requests })));
    const rawRoutes = new Map(raw.topRoutes.map((r) => [r.route, r]));
    for (const route of rolled.topRoutes) {
      expect(route.requests).toBe(rawRoutes.get(route.route)!.requests);
      expect(route.errors).toBe(rawRoutes.get(route.route)!.errors);
      expect(relative(route.p95, rawRoutes.get(route.route)!.p95)).toBeLessThanOrEqual(0.02);
    }
    expect(rolled.slowestRoutes[0]!.route).toBe('/slow');
    expect(rolled.series.reduce((a, p) => a + p.requests, 0)).toBe(20_000);
    expect(rolled.topPaths.length).toBe(10);
    expect(rolled.referrers[0]!.key, 'referrers grouped by host').toBe('ref.example');
  });

  it('filters long ranges by route from hour rollups', async () => {
    const stats = await queryStats(pulse.db, { from: new Date(start), to: new Date(start + 48 * HOUR), tz: 'UTC', route: '/b' });
    expect(stats.totals.requests).toBe(5_000);
    expect(stats.totals.visitors).toBeNull();
  });

  it('rebuild_rollups in SQL reproduces what the writer maintained (same buckets, same sketches, shards added up)', async () => {
    const snapshot = async () => ({
      rollups: mergeShards((await sql`select * from pgpulse.rollups order by grain, bucket, route, shard`.execute(pulse.db)).rows as Record<string, unknown>[]),
      sketches: mergeSketches(
        (await sql`select grain, bucket, hll from pgpulse.visitor_sketches order by grain, bucket, shard`.execute(pulse.db)).rows as SketchDbRow[],
      ),
    });
    const before = await snapshot();
    await sql`select pgpulse.rebuild_rollups('-infinity', 'infinity')`.execute(pulse.db);
    const after = await snapshot();
    expect(after.sketches).toEqual(before.sketches);
    expect(after.rollups.length).toBe(before.rollups.length);
    after.rollups.forEach((row, i) => {
      const { duration_sum: a, ...restAfter } = row;
      const { duration_sum: b, ...restBefore } = before.rollups[i]!;
      expect(restAfter).toEqual(restBefore);
      expect(Number(a)).toBeCloseTo(Number(b), 6);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { ALL_ROUTES, rollupBatch, type RollupRow } from '../../src/rollups/batch-rollup.js';
import { hllEstimate } from '../../src/rollups/hyperloglog.js';
import { latencyBucket } from '../../src/rollups/latency-histogram.js';
import { makeLog } from '../support/fixtures.js';

const HOUR = 3_600_000;
const start = Date.parse('2031-05-06T10:58:00Z');
const routes = ['/a/:id', '/b', null] as const;
const rows = Array.from({ length: 3_000 }, (_, i) =>
  makeLog({
    inserted_at: new Date(start + i * 1_000), // 50 minutes (10:58–11:47): two hours
    route: routes[i % 3]!,
    status_code: [200, 301, 404, 503, 101][i % 5]!,
    duration_ms: 0.5 + (i % 400),
    device_type: (['desktop', 'mobile', 'tablet', 'bot'] as const)[i % 4]!,
    visitor_id: i % 10 === 0 ? null : `v${i % 700}`,
  }),
);

const histogramTotal = (r: RollupRow) => [...r.histogram.values()].reduce((a, b) => a + b, 0);

describe('rollupBatch', () => {
  const { rollups, sketches } = rollupBatch(rows);

  it('makes minute rollups for all routes only, hour rollups for all routes and each route', () => {
    const minutes = rollups.filter((r) => r.grain === 'minute');
    expect(minutes.every((r) => r.route === ALL_ROUTES)).toBe(true);
    expect(minutes).toHaveLength(50);
    const hours = rollups.filter((r) => r.grain === 'hour');
    expect(hours.map((r) => `${new Date(r.bucket).toISOString().slice(11, 13)} ${r.route}`).sort()).toEqual(
      ['10', '11'].flatMap((h) => [`${h} `, `${h} /a/:id`, `${h} /b`, `${h} ${ALL_ROUTES}`]).sort(),
    );
  });

  it('counts every row once per grain, with statuses, devices and histograms adding up', () => {
    for (const grain of ['minute', 'hour'] as const) {
      const all = rollups.filter((r) => r.grain === grain && r.route === ALL_ROUTES);
      expect(all.reduce((sum, r) => sum + r.requests, 0)).toBe(rows.length);
      for (const r of all) {
        expect(r.status.reduce((a, b) => a + b, 0)).toBe(r.requests);
        expect(Object.values(r.devices).reduce((a, b) => a + b, 0)).toBe(r.requests);
        expect(histogramTotal(r)).toBe(r.requests);
      }
    }
    const hour10 = rollups.filter((r) => r.grain === 'hour' && r.bucket === Date.parse('2031-05-06T10:00:00Z'));
    const perRoute = hour10.filter((r) => r.route !== ALL_ROUTES);
    const all = hour10.find((r) => r.route === ALL_ROUTES)!;
    expect(perRoute.reduce((sum, r) => sum + r.requests, 0)).toBe(all.requests);
    expect(perRoute.reduce((sum, r) => sum + r.durationSum, 0)).toBeCloseTo(all.durationSum, 6);
    const inHour = rows.filter((r) => r.inserted_at.getTime() < Date.parse('2031-05-06T11:00:00Z'));
    expect(all.requests).toBe(inHour.length);
    expect(all.status[5]).toBe(inHour.filter((r) => r.status_code >= 500).length);
    expect(all.histogram.get(latencyBucket(inHour[0]!.duration_ms))).toBe(
      inHour.filter((r) => latencyBucket(r.duration_ms) === latencyBucket(inHour[0]!.duration_ms)).length,
    );
  });

  it('answers rows and sketches sorted by grain, bucket and route (the lock order of concurrent writers)', () => {
    const keys = rollups.map((r) => [r.grain, r.bucket, r.route] as const);
    const sorted = [...keys].sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1] || a[2].localeCompare(b[2]));
    expect(keys).toEqual(sorted);
    const sketchKeys = sketches.map((s) => `${s.grain} ${s.bucket}`);
    expect(sketchKeys).toEqual([...sketches].sort((a, b) => a.grain.localeCompare(b.grain) || a.bucket - b.bucket).map((s) => `${s.grain} ${s.bucket}`));
  });

  it('sketches visitors per minute and hour, skipping rows without a visitor id', () => {
    expect(sketches.filter((s) => s.grain === 'minute')).toHaveLength(50);
    const hours = sketches.filter((s) => s.grain === 'hour');
    expect(hours).toHaveLength(2);
    const distinct = new Set(rows.filter((r) => r.inserted_at.getTime() >= Date.parse('2031-05-06T11:00:00Z') && r.visitor_id).map((r) => r.visitor_id)).size;
    const estimate = hllEstimate(hours[1]!.registers);
    expect(Math.abs(estimate - distinct) / distinct).toBeLessThan(0.1);
    expect(rollupBatch([makeLog({ visitor_id: null, inserted_at: new Date(start + HOUR) })]).sketches).toEqual([]);
  });
});

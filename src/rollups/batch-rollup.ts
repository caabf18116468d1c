import type { DeviceType, RequestLog } from '../request-log.js';
import { hllAdd, HLL_REGISTERS } from './hyperloglog.js';
import { latencyBucket, type Histogram } from './latency-histogram.js';

export const rollupGrains = ['minute', 'hour'] as const;

/**
 * Route key of the rows that aggregate all routes. Minute rollups exist only
 * for it; hour rollups exist for it and for each route.
 */
export const ALL_ROUTES = '\u0001all';
export type RollupGrain = (typeof rollupGrains)[number];

const GRAIN_MS: Record<RollupGrain, number> = { minute: 60_000, hour: 3_600_000 };

/** Aggregates of one (grain, bucket, route). */
export interface RollupRow {
  grain: RollupGrain;
  /** Bucket start, epoch ms (UTC). */
  bucket: number;
  /** Route pattern, '' when unknown. */
  route: string;
  requests: number;
  /** Requests per status class: index 1 = 1xx … 5 = 5xx. */
  status: [number, number, number, number, number, number];
  durationSum: number;
  devices: Record<DeviceType, number>;
  histogram: Histogram;
}

/** Visitor sketch of one (grain, bucket). */
export interface SketchRow {
  grain: RollupGrain;
  bucket: number;
  registers: Uint8Array;
}

function statusClass(code: number): number {
  return Math.min(5, Math.max(1, Math.floor(code / 100)));
}

/** Minute and hour rollups plus visitor sketches of one batch, sorted by key (lock order). */
export function rollupBatch(rows: readonly RequestLog[]): { rollups: RollupRow[]; sketches: SketchRow[] } {
  const rollups = new Map<string, RollupRow>();
  const sketches = new Map<string, SketchRow>();
  for (const row of rows) {
    const at = row.inserted_at.getTime();
    const route = row.route ?? '';
    for (const [grain, routeKey] of [['minute', ALL_ROUTES], ['hour', ALL_ROUTES], ['hour', route]] as const) {
      const bucket = Math.floor(at / GRAIN_MS[grain]) * GRAIN_MS[grain];
      const key = `${grain}\u0000${bucket}\u0000${routeKey}`;
      let rollup = rollups.get(key);
      if (!rollup) {
        rollup = { grain, bucket, route: routeKey, requests: 0, status: [0, 0, 0, 0, 0, 0], durationSum: 0, devices: { desktop: 0, mobile: 0, tablet: 0, bot: 0 }, histogram: new Map() };
        rollups.set(key, rollup);
      }
      rollup.requests++;
      rollup.status[statusClass(row.status_code)]!++;
      rollup.durationSum += row.duration_ms;
      rollup.devices[row.device_type]++;
      const b = latencyBucket(row.duration_ms);
      rollup.histogram.set(b, (rollup.histogram.get(b) ?? 0) + 1);
    }
    if (row.visitor_id) {
      for (const grain of rollupGrains) {
        const bucket = Math.floor(at / GRAIN_MS[grain]) * GRAIN_MS[grain];
        const sketchKey = `${grain}\u0000${bucket}`;
        let sketch = sketches.get(sketchKey);
        if (!sketch) {
          sketch = { grain, bucket, registers: new Uint8Array(HLL_REGISTERS) };
          sketches.set(sketchKey, sketch);
        }
        hllAdd(sketch.registers, row.visitor_id);
      }
    }
  }
  const byKey = <T extends { grain: string; bucket: number; route?: string }>(a: T, b: T) =>
    a.grain.localeCompare(b.grain) || a.bucket - b.bucket || (a.route ?? '').localeCompare(b.route ?? '');
  return { rollups: [...rollups.values()].sort(byKey), sketches: [...sketches.values()].sort(byKey) };
}

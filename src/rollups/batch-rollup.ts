import type { DeviceType, RequestLog } from '../request-log.js';
import { hllRegister, hllSet, HLL_REGISTERS } from './hyperloglog.js';
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

function emptyRollup(grain: RollupGrain, bucket: number, route: string): RollupRow {
  return {
    grain,
    bucket,
    route,
    requests: 0,
    status: [0, 0, 0, 0, 0, 0],
    durationSum: 0,
    devices: { desktop: 0, mobile: 0, tablet: 0, bot: 0 },
    histogram: new Map(),
  };
}

function addTo(rollup: RollupRow, status: number, durationMs: number, device: DeviceType, latency: number): void {
  rollup.requests++;
  rollup.status[status]!++;
  rollup.durationSum += durationMs;
  rollup.devices[device]++;
  rollup.histogram.set(latency, (rollup.histogram.get(latency) ?? 0) + 1);
}

/** The value of `key` in `map`, created with `make` on first use. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}

/**
 * Minute and hour rollups plus visitor sketches of one batch, sorted by key
 * (lock order). Hot path of the writer: keys are numbers (bucket start) and a
 * per-hour route map, and each row's latency bucket and HLL register are
 * computed once (about 1 µs per row).
 */
export function rollupBatch(rows: readonly RequestLog[]): { rollups: RollupRow[]; sketches: SketchRow[] } {
  const minutes = new Map<number, RollupRow>();
  const hours = new Map<number, RollupRow>();
  const hourRoutes = new Map<number, Map<string, RollupRow>>();
  const minuteSketches = new Map<number, SketchRow>();
  const hourSketches = new Map<number, SketchRow>();
  for (const row of rows) {
    const at = row.inserted_at.getTime();
    const minute = Math.floor(at / GRAIN_MS.minute) * GRAIN_MS.minute;
    const hour = Math.floor(at / GRAIN_MS.hour) * GRAIN_MS.hour;
    const route = row.route ?? '';
    const status = statusClass(row.status_code);
    const latency = latencyBucket(row.duration_ms);
    addTo(
      entry(minutes, minute, () => emptyRollup('minute', minute, ALL_ROUTES)),
      status,
      row.duration_ms,
      row.device_type,
      latency,
    );
    addTo(
      entry(hours, hour, () => emptyRollup('hour', hour, ALL_ROUTES)),
      status,
      row.duration_ms,
      row.device_type,
      latency,
    );
    const perRoute = entry(hourRoutes, hour, () => new Map<string, RollupRow>());
    addTo(
      entry(perRoute, route, () => emptyRollup('hour', hour, route)),
      status,
      row.duration_ms,
      row.device_type,
      latency,
    );
    if (row.visitor_id) {
      const packed = hllRegister(row.visitor_id);
      hllSet(entry(minuteSketches, minute, (): SketchRow => ({ grain: 'minute', bucket: minute, registers: new Uint8Array(HLL_REGISTERS) })).registers, packed);
      hllSet(entry(hourSketches, hour, (): SketchRow => ({ grain: 'hour', bucket: hour, registers: new Uint8Array(HLL_REGISTERS) })).registers, packed);
    }
  }
  const rollups = [...minutes.values(), ...hours.values()];
  for (const perRoute of hourRoutes.values()) rollups.push(...perRoute.values());
  const sketches = [...minuteSketches.values(), ...hourSketches.values()];
  const byKey = <T extends { grain: string; bucket: number; route?: string }>(a: T, b: T) =>
    a.grain.localeCompare(b.grain) || a.bucket - b.bucket || (a.route ?? '').localeCompare(b.route ?? '');
  return { rollups: rollups.sort(byKey), sketches: sketches.sort(byKey) };
}

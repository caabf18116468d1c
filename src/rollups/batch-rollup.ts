import type { DeviceType, RequestLog } from '../schema/request-log.js';
import { hllRegister, hllSet, HLL_REGISTERS } from './hyperloglog.js';
import { latencyBucket, type Histogram } from './latency-histogram.js';
import { HOUR_MS, MINUTE_MS } from '../shared/time.js';
import type { RollupGrain } from '../schema/database.js';

/**
 * Route key of the rows that aggregate all routes. Minute rollups exist only
 * for it; hour rollups exist for it and for each route.
 */
export const ALL_ROUTES = '\u0001all';

/** Length of a rollup bucket of each grain, in milliseconds. */
export const GRAIN_MS: Record<RollupGrain, number> = { minute: MINUTE_MS, hour: HOUR_MS };

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

/**
 * Dimensions with rollups per value (`pgpulse.dimension_rollups`): request-row
 * columns of low cardinality. Rows where the column is null are not counted.
 */
export const rollupDimensions = ['browser', 'os', 'country', 'device', 'node'] as const;
export type RollupDimension = (typeof rollupDimensions)[number];

/** Aggregates of one (grain, bucket, dimension, value). */
export interface DimensionRollupRow {
  grain: RollupGrain;
  /** Bucket start, epoch ms (UTC). */
  bucket: number;
  dimension: RollupDimension;
  value: string;
  requests: number;
  /** Requests per status class: index 1 = 1xx … 5 = 5xx. */
  status: [number, number, number, number, number, number];
  durationSum: number;
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

/** Counts one request in the aggregates every rollup row keeps (requests, status class, duration, latency histogram). */
function count(rollup: RollupRow | DimensionRollupRow, status: number, durationMs: number, latency: number): void {
  rollup.requests++;
  rollup.status[status]!++;
  rollup.durationSum += durationMs;
  rollup.histogram.set(latency, (rollup.histogram.get(latency) ?? 0) + 1);
}

function addTo(rollup: RollupRow, status: number, durationMs: number, device: DeviceType, latency: number): void {
  count(rollup, status, durationMs, latency);
  rollup.devices[device]++;
}

/** One map per dimension (value → row), in {@link rollupDimensions} order. */
type DimensionMaps = Map<string, DimensionRollupRow>[];

const newDimensionMaps = (): DimensionMaps => rollupDimensions.map(() => new Map<string, DimensionRollupRow>());

/** Adds a row to its value's aggregate in one dimension (null values are not counted). */
function addDimension(
  maps: DimensionMaps,
  index: number,
  value: string | null,
  grain: RollupGrain,
  bucket: number,
  status: number,
  durationMs: number,
  latency: number,
): void {
  if (value === null) return;
  const map = maps[index]!;
  let rollup = map.get(value);
  if (rollup === undefined) {
    rollup = { grain, bucket, dimension: rollupDimensions[index]!, value, requests: 0, status: [0, 0, 0, 0, 0, 0], durationSum: 0, histogram: new Map() };
    map.set(value, rollup);
  }
  count(rollup, status, durationMs, latency);
}

/** Adds a row to every dimension of a bucket's maps. */
function addDimensions(maps: DimensionMaps, row: RequestLog, grain: RollupGrain, bucket: number, status: number, latency: number): void {
  const ms = row.duration_ms;
  addDimension(maps, 0, row.browser, grain, bucket, status, ms, latency);
  addDimension(maps, 1, row.os, grain, bucket, status, ms, latency);
  addDimension(maps, 2, row.country, grain, bucket, status, ms, latency);
  addDimension(maps, 3, row.device_type, grain, bucket, status, ms, latency);
  addDimension(maps, 4, row.node_id, grain, bucket, status, ms, latency);
}

/** The value of `key` in `map`, created with `make` on first use. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}

/**
 * Minute and hour rollups, dimension rollups and visitor sketches of one
 * batch, sorted by key (lock order). Hot path of the writer: keys are numbers
 * (bucket start), a per-hour route map and per-bucket maps per dimension (the
 * last bucket's maps are kept at hand: a batch's rows mostly share a minute),
 * and each row's latency bucket and HLL register are computed once.
 */
export function rollupBatch(rows: readonly RequestLog[]): { rollups: RollupRow[]; dimensions: DimensionRollupRow[]; sketches: SketchRow[] } {
  const minutes = new Map<number, RollupRow>();
  const hours = new Map<number, RollupRow>();
  const hourRoutes = new Map<number, Map<string, RollupRow>>();
  const minuteSketches = new Map<number, SketchRow>();
  const hourSketches = new Map<number, SketchRow>();
  const minuteDimensions = new Map<number, DimensionMaps>();
  const hourDimensions = new Map<number, DimensionMaps>();
  let lastMinute = Number.NaN;
  let lastMinuteMaps: DimensionMaps = [];
  let lastHour = Number.NaN;
  let lastHourMaps: DimensionMaps = [];
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
    if (minute !== lastMinute) {
      lastMinute = minute;
      lastMinuteMaps = entry(minuteDimensions, minute, newDimensionMaps);
    }
    addDimensions(lastMinuteMaps, row, 'minute', minute, status, latency);
    if (hour !== lastHour) {
      lastHour = hour;
      lastHourMaps = entry(hourDimensions, hour, newDimensionMaps);
    }
    addDimensions(lastHourMaps, row, 'hour', hour, status, latency);
    if (row.visitor_id) {
      const packed = hllRegister(row.visitor_id);
      hllSet(entry(minuteSketches, minute, (): SketchRow => ({ grain: 'minute', bucket: minute, registers: new Uint8Array(HLL_REGISTERS) })).registers, packed);
      hllSet(entry(hourSketches, hour, (): SketchRow => ({ grain: 'hour', bucket: hour, registers: new Uint8Array(HLL_REGISTERS) })).registers, packed);
    }
  }
  const rollups = [...minutes.values(), ...hours.values()];
  for (const perRoute of hourRoutes.values()) rollups.push(...perRoute.values());
  const sketches = [...minuteSketches.values(), ...hourSketches.values()];
  const dimensions: DimensionRollupRow[] = [];
  for (const perBucket of [minuteDimensions, hourDimensions]) {
    for (const maps of perBucket.values()) for (const map of maps) for (const rollup of map.values()) dimensions.push(rollup);
  }
  const byKey = <T extends { grain: string; bucket: number; route?: string }>(a: T, b: T) =>
    a.grain.localeCompare(b.grain) || a.bucket - b.bucket || (a.route ?? '').localeCompare(b.route ?? '');
  const byDimensionKey = (a: DimensionRollupRow, b: DimensionRollupRow) =>
    byKey(a, b) || a.dimension.localeCompare(b.dimension) || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
  return { rollups: rollups.sort(byKey), dimensions: dimensions.sort(byDimensionKey), sketches: sketches.sort(byKey) };
}

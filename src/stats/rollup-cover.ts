import { GRAIN_MS } from '../rollups/batch-rollup.js';
import type { RollupGrain } from '../schema/database.js';
import { MINUTE_MS } from '../shared/time.js';

/** A half-open time interval [from, to). */
export type Interval = readonly [from: Date, to: Date];

/**
 * How a range [from, to) is read exactly: whole `grain` rollup buckets in the
 * middle, whole minute rollups for the rest of the partial hours at the edges
 * (hour grain only), and raw rows for what remains (under a minute, or under an
 * hour when minute rollups cannot serve the edges).
 */
export interface RollupCover {
  /** Whole buckets of the chosen grain; null when none fits in the range. */
  whole: Interval | null;
  /** Whole minutes at the edges, read from minute rollups. */
  minutes: Interval[];
  /** Partial buckets at the edges, read from raw rows. */
  raw: Interval[];
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;
const ceilTo = (ms: number, step: number) => Math.ceil(ms / step) * step;

/**
 * Splits [from, to) into rollup buckets and edges (see {@link RollupCover}).
 * `minuteEdges` says whether minute rollups may serve the edges of an hour-grain
 * read (they only exist for all routes together).
 */
export function rollupCover(from: Date, to: Date, grain: RollupGrain, minuteEdges: boolean): RollupCover {
  const lo = from.getTime();
  const hi = to.getTime();
  const step = GRAIN_MS[grain];
  const wholeFrom = ceilTo(lo, step);
  const wholeTo = floorTo(hi, step);
  if (wholeFrom >= wholeTo) return splitEdge(lo, hi, grain === 'hour' && minuteEdges, { whole: null, minutes: [], raw: [] });
  const cover: RollupCover = { whole: [new Date(wholeFrom), new Date(wholeTo)], minutes: [], raw: [] };
  splitEdge(lo, wholeFrom, grain === 'hour' && minuteEdges, cover);
  splitEdge(wholeTo, hi, grain === 'hour' && minuteEdges, cover);
  return cover;
}

/** Adds [lo, hi) to the cover: whole minutes from minute rollups when allowed, the rest raw. */
function splitEdge(lo: number, hi: number, minuteEdges: boolean, cover: RollupCover): RollupCover {
  if (lo >= hi) return cover;
  const minuteFrom = ceilTo(lo, MINUTE_MS);
  const minuteTo = floorTo(hi, MINUTE_MS);
  if (!minuteEdges || minuteFrom >= minuteTo) {
    cover.raw.push([new Date(lo), new Date(hi)]);
    return cover;
  }
  cover.minutes.push([new Date(minuteFrom), new Date(minuteTo)]);
  if (lo < minuteFrom) cover.raw.push([new Date(lo), new Date(minuteFrom)]);
  if (minuteTo < hi) cover.raw.push([new Date(minuteTo), new Date(hi)]);
  return cover;
}

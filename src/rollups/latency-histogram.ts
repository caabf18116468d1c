/**
 * Log-bucketed latency histogram: bucket i holds durations in
 * [MIN·G^i, MIN·G^(i+1)) ms with G = 1.04, and is reported at its geometric
 * middle, so any percentile read from it is within 2% of the true sample.
 */
export const HISTOGRAM_MIN_MS = 0.01;
export const HISTOGRAM_GROWTH = 1.04;
/** Highest bucket (≈ 0.01 ms · 1.04^700 ≈ 8·10^9 ms): everything slower lands here. */
export const HISTOGRAM_MAX_BUCKET = 700;

const LOG_GROWTH = Math.log(HISTOGRAM_GROWTH);

/** Bucket index of a duration in ms. */
export function latencyBucket(durationMs: number): number {
  if (!(durationMs > HISTOGRAM_MIN_MS)) return 0;
  return Math.min(HISTOGRAM_MAX_BUCKET, Math.floor(Math.log(durationMs / HISTOGRAM_MIN_MS) / LOG_GROWTH));
}

/** Representative duration (ms) of a bucket: its geometric middle. */
export function bucketValue(bucket: number): number {
  return HISTOGRAM_MIN_MS * HISTOGRAM_GROWTH ** (bucket + 0.5);
}

/** Sparse histogram: bucket index → count. */
export type Histogram = Map<number, number>;

/**
 * Percentiles (0–1) read from a histogram, with the rank rule of
 * `percentile_cont` (see {@link densePercentiles}); null when empty.
 */
export function histogramPercentiles(histogram: Histogram, quantiles: readonly number[]): (number | null)[] {
  const dense = denseHistogram();
  for (const [bucket, n] of histogram) dense[bucket]! += n;
  return densePercentiles(dense, quantiles);
}

/** Dense histogram: index = bucket, value = count (fast to merge many rollup rows). */
export type DenseHistogram = Float64Array;

export function denseHistogram(): DenseHistogram {
  return new Float64Array(HISTOGRAM_MAX_BUCKET + 1);
}

/**
 * Adds a rollup row's sparse histogram, given as comma-separated non-negative
 * integers (bucket indexes and counts, as `array_to_string` writes them), to a
 * dense one. Parsed by character codes in one pass: about 6x faster than
 * split + Number, which dominated 30-day stats (thousands of route-hour rows).
 */
export function addSparse(target: DenseHistogram, idx: string, cnt: string): void {
  let i = 0;
  let j = 0;
  while (i < idx.length) {
    let bucket = 0;
    for (let c = idx.charCodeAt(i); c !== COMMA && i < idx.length; c = idx.charCodeAt(++i)) bucket = bucket * 10 + c - ZERO;
    i++;
    let count = 0;
    for (let c = cnt.charCodeAt(j); c !== COMMA && j < cnt.length; c = cnt.charCodeAt(++j)) count = count * 10 + c - ZERO;
    j++;
    target[bucket]! += count;
  }
}

const COMMA = 44;
const ZERO = 48;

/**
 * Percentiles (0–1) of a dense histogram with the rank rule of
 * `percentile_cont`: rank q·(n−1), interpolated linearly between the values of
 * the samples just below and above it. Each of those two is read as its
 * bucket's middle (within 1.98% of the sample), so the interpolated result is
 * too, even where neighbouring samples are far apart (sparse tails, p99 of a
 * few thousand rows). Null when empty.
 */
export function densePercentiles(histogram: DenseHistogram, quantiles: readonly number[]): (number | null)[] {
  let total = 0;
  for (let i = 0; i < histogram.length; i++) total += histogram[i]!;
  if (total === 0) return quantiles.map(() => null);
  return quantiles.map((q) => {
    const rank = q * (total - 1);
    const below = Math.floor(rank);
    const low = sampleValue(histogram, below);
    if (rank === below) return low;
    return low + (rank - below) * (sampleValue(histogram, below + 1) - low);
  });
}

/** Value (bucket middle) of the sample at 0-based position `index` in sorted order. */
function sampleValue(histogram: DenseHistogram, index: number): number {
  let seen = 0;
  let last = 0;
  for (let i = 0; i < histogram.length; i++) {
    if (histogram[i]! === 0) continue;
    seen += histogram[i]!;
    last = i;
    if (seen > index) return bucketValue(i);
  }
  return bucketValue(last);
}

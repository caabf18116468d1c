import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addSparse, denseHistogram, densePercentiles, histogramPercentiles, latencyBucket, type Histogram } from '../../src/rollups/latency-histogram.js';

/** What Postgres' percentile_cont computes over the raw samples. */
function percentileCont(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return sorted[below]! + (rank - below) * (sorted[above]! - sorted[below]!);
}

function histogramOf(values: readonly number[]): Histogram {
  const histogram: Histogram = new Map();
  for (const v of values) histogram.set(latencyBucket(v), (histogram.get(latencyBucket(v)) ?? 0) + 1);
  return histogram;
}

const relative = (a: number, b: number) => Math.abs(a - b) / b;

describe('histogram percentiles', () => {
  it('stay within 2% of percentile_cont for any sample, including sparse tails', () => {
    const duration = fc.double({ min: 0.02, max: 1e7, noNaN: true });
    fc.assert(
      fc.property(fc.array(duration, { minLength: 1, maxLength: 400 }), fc.double({ min: 0, max: 1, noNaN: true }), (values, q) => {
        const [estimate] = histogramPercentiles(histogramOf(values), [q]);
        expect(relative(estimate!, percentileCont(values, q))).toBeLessThan(0.02);
      }),
      { numRuns: 2_000 },
    );
  });

  it('interpolates between distant neighbours like percentile_cont (p99 of 101 samples with one outlier)', () => {
    const values = [...Array.from({ length: 100 }, () => 10), 10_000];
    const exact = percentileCont(values, 0.995);
    const [estimate] = histogramPercentiles(histogramOf(values), [0.995]);
    expect(exact).toBe(5_005);
    expect(relative(estimate!, exact)).toBeLessThan(0.02);
  });

  it('is null for an empty histogram, and dense and sparse forms agree', () => {
    expect(densePercentiles(denseHistogram(), [0.5])).toEqual([null]);
    const values = Array.from({ length: 1_000 }, (_, i) => Math.exp((i % 97) / 9));
    const dense = denseHistogram();
    for (const v of values) dense[latencyBucket(v)]! += 1;
    expect(densePercentiles(dense, [0.5, 0.95, 0.99])).toEqual(histogramPercentiles(histogramOf(values), [0.5, 0.95, 0.99]));
  });
});

describe('addSparse', () => {
  it('adds comma-separated buckets and counts as Postgres writes them', () => {
    const dense = denseHistogram();
    addSparse(dense, '0,7,700', '3,12,1');
    addSparse(dense, '7', '100000');
    addSparse(dense, '', '');
    expect([dense[0], dense[7], dense[700], dense.reduce((a, b) => a + b, 0)]).toEqual([3, 100_012, 1, 100_016]);
  });
});

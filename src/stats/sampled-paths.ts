/**
 * Top paths and 404s of a filtered range, estimated from a `TABLESAMPLE
 * SYSTEM` sample of its rows, with a margin of error that holds for every
 * count shown at once.
 */
import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { samplePercent } from './sampled-lists.js';
import { num, TOP_N, type CountStat } from './stats.js';
import { filterCondition } from './stats-filters.js';
import type { StatsParams } from './stats-params.js';

/** How a sample is drawn, for tests: the dashboard leaves both unset. */
export interface SampleOptions {
  /** Percentage of the range's pages to read, instead of {@link samplePercent}'s. */
  percent?: number;
  /** `REPEATABLE` seed of the sample (which pages it reads). Default 0: the same pages on every refresh. */
  seed?: number;
}

/** Sampled top paths and 404s: scaled-up counts, the percentage of pages read and the margin of every count shown. */
export interface SampledPaths {
  topPaths: CountStat[];
  notFound: CountStat[];
  percent: number;
  /**
   * Requests: every count shown is within this of its exact count with 95%
   * confidence, all at once (see {@link sampledPathLists}); 0 when every page was read.
   */
  margin: number;
}

/**
 * Top paths and 404s of a filtered range, estimated from a sample of its pages
 * (what the cube cannot key: it has no path dimension). `rangeRows` are all
 * rows of the range, `selected` those the filters select.
 *
 * `TABLESAMPLE SYSTEM` keeps each page with probability p, so a count is
 * 1/p × the rows of the pages kept, and rows of one page are not independent
 * (traffic comes in bursts: a page holds runs of the same path). The variance
 * of a count is estimated from the pages themselves, (1−p)/p² × Σ y² over the
 * kept pages' counts y of that key (Horvitz–Thompson; √(n(1−p)/p) when no page
 * holds two rows of it). The margin is the largest over the m counts shown of
 * z × that standard error, with z the Bonferroni quantile Φ⁻¹(1 − 0.025/m):
 * every count shown is within it at once with 95% confidence.
 */
export async function sampledPathLists(
  db: Kysely<PulseDatabase>,
  params: StatsParams,
  rangeRows: number,
  selected: number,
  options: SampleOptions = {},
): Promise<SampledPaths> {
  const percent = options.percent ?? samplePercent(selected, rangeRows);
  const sample = percent >= 100 ? sql`` : sql`tablesample system (${percent}) repeatable (${options.seed ?? 0})`;
  // Each path's rows and squared rows per page (partitions number pages apart: the page is (tableoid, block));
  // reading every page, the counts are exact and need no pages.
  const page = percent >= 100 ? sql`` : sql`, tableoid, (ctid::text::point)[0]`;
  const result = await sql<{ kind: 'topPaths' | 'notFound'; key: string; n: number; nn: string }>`
    with pages as (
      select path, count(*) as n, count(*) filter (where status_code = 404) as nf
      from pgpulse.request_logs ${sample}
      where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}
      group by path${page}
    ), paths as (
      select path, sum(n)::int as n, sum(n * n) as nn, sum(nf)::int as nf, sum(nf * nf) as nnf from pages group by path
    )
    (select 'topPaths' as kind, path as key, n, nn from paths order by n desc, path limit ${TOP_N})
    union all
    (select 'notFound', path, nf, nnf from paths where nf > 0 order by nf desc, path limit ${TOP_N})`.execute(db);
  const p = percent / 100;
  const scale = 1 / p;
  const out: SampledPaths = { topPaths: [], notFound: [], percent, margin: 0 };
  let largestVariance = 0;
  for (const r of result.rows) {
    out[r.kind].push({ key: r.key, requests: Math.round(num(r.n) * scale), visitors: null });
    largestVariance = Math.max(largestVariance, ((1 - p) * num(r.nn)) / (p * p));
  }
  const shown = result.rows.length;
  out.margin = p >= 1 || shown === 0 ? 0 : Math.ceil(simultaneousZ(shown) * Math.sqrt(largestVariance));
  return out;
}

/** Φ⁻¹(1 − 0.025/m): the two-sided 95% normal quantile for m estimates at once (Bonferroni); 1.96 for one. */
export function simultaneousZ(m: number): number {
  const target = 0.025 / Math.max(1, m);
  let low = 0;
  let high = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (upperTail(mid) > target) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/** 1 − Φ(z) for z ≥ 0, from erfc (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function upperTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return (t * Math.exp(-x * x + poly)) / 2;
}

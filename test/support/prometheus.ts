import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from 'parse-prometheus-text-format';

/** Parsed Prometheus text exposition (a real parser, not a regex), indexed by family name. */
export class Scrape {
  readonly families: Map<string, ParsedFamily>;

  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
  }

  family(name: string): ParsedFamily {
    const family = this.families.get(name);
    if (!family) throw new Error(`metric family ${name} not in the scrape:\n${this.text}`);
    return family;
  }

  /** Value of a counter or gauge sample (the one whose labels include `labels`). */
  value(name: string, labels: Record<string, string> = {}): number {
    const sample = this.sample(name, labels);
    return Number(sample.value);
  }

  /** Number of observations of a histogram sample. */
  count(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels).count);
  }

  /**
   * Every series of a histogram: its labels (without `le`), cumulative bucket
   * counts by upper bound, count and sum. parse-prometheus-text-format merges
   * the series of a labelled histogram into one, so its lines are parsed again
   * as untyped samples (`_bucket`, `_count`, `_sum`, each with all its labels)
   * and grouped here by label set.
   */
  histogram(name: string): HistogramSeries[] {
    if (this.family(name).type !== 'HISTOGRAM') throw new Error(`${name} is a ${this.family(name).type}, not a histogram`);
    // Untyped, prom-client's interleaved _bucket/_sum/_count lines come back as one family per run of lines.
    const untyped = parsePrometheusTextFormat(this.text.replace(new RegExp(`^# TYPE ${name} histogram$`, 'm'), ''));
    const samples = (suffix: string) => untyped.filter((family) => family.name === `${name}${suffix}`).flatMap((family) => family.metrics);
    const series = new Map<string, HistogramSeries>();
    const of = (labels: Record<string, string> = {}) => {
      const own = Object.fromEntries(Object.entries(labels).filter(([key]) => key !== 'le'));
      const key = JSON.stringify(Object.entries(own).sort());
      let entry = series.get(key);
      if (!entry) series.set(key, (entry = { labels: own, buckets: new Map(), count: Number.NaN, sum: Number.NaN }));
      return entry;
    };
    for (const sample of samples('_bucket')) {
      const le = sample.labels!.le!;
      of(sample.labels).buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(sample.value));
    }
    for (const sample of samples('_count')) of(sample.labels).count = Number(sample.value);
    for (const sample of samples('_sum')) of(sample.labels).sum = Number(sample.value);
    return [...series.values()];
  }

  private sample(name: string, labels: Record<string, string>): ParsedSample {
    const sample = this.family(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
    return sample;
  }
}

/** One series of a histogram ({@link Scrape.histogram}). */
export interface HistogramSeries {
  labels: Record<string, string>;
  /** Cumulative counts by upper bound (`+Inf` is `Infinity`). */
  buckets: Map<number, number>;
  count: number;
  sum: number;
}

/** Fetches and parses a /metrics endpoint. */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  if (!response.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`GET ${url}: content-type ${response.headers.get('content-type')}`);
  return new Scrape(await response.text());
}

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

  private sample(name: string, labels: Record<string, string>): ParsedSample {
    const sample = this.family(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
    return sample;
  }
}

/** Fetches and parses a /metrics endpoint. */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  if (!response.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`GET ${url}: content-type ${response.headers.get('content-type')}`);
  return new Scrape(await response.text());
}

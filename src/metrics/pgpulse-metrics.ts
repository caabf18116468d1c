/**
 * pgpulse's Prometheus metrics, on prom-client (the ecosystem's standard).
 * Counters and gauges are read from the public `stats` of each source when the
 * registry is scraped (nothing is counted twice on the hot path); histograms
 * are fed by the sources' events (`flushed`, `query`). One set of metrics per
 * registry: several pulses, listeners or dashboards on the same registry add up.
 */
import type { Histogram } from 'prom-client';
import type { DropReason } from '../writer/writer-events.js';
import type { MetricsRegistry } from './metrics-registry.js';
import { asPromRegistry, promClient } from './prom-client.js';
import { metricDefinitions, type HistogramKey, type MetricSources } from './metric-definitions.js';
import type { DashboardMetricsSource, ListenerMetricsSource, PulseMetricsSource } from './metric-sources.js';

/** The pgpulse metrics registered on one prom-client registry. */
export class PgpulseMetrics {
  private readonly pulses = new Set<PulseMetricsSource>();
  private readonly listeners = new Set<ListenerMetricsSource>();
  private readonly dashboards = new Set<DashboardMetricsSource>();
  private readonly drops = new Set<Record<DropReason, number>>();
  private readonly writeSeconds: Histogram;
  private readonly batchRows: Histogram;
  private readonly querySeconds: Histogram;

  constructor(readonly registry: MetricsRegistry) {
    const registers = [asPromRegistry(registry)];
    const sources: MetricSources = { pulses: this.pulses, listeners: this.listeners, dashboards: this.dashboards, drops: this.drops };
    const client = promClient();
    const histograms: Partial<Record<HistogramKey, Histogram>> = {};
    for (const metric of metricDefinitions) {
      const { name, help } = metric;
      if (metric.type === 'histogram') {
        histograms[metric.histogram] = new client.Histogram({ name, help, buckets: [...metric.buckets], registers });
      } else if ('labels' in metric) {
        const { reasons, value } = metric;
        new client.Counter({
          name,
          help,
          labelNames: metric.labels,
          registers,
          collect() {
            this.reset();
            for (const reason of reasons) this.inc({ reason }, value(sources, reason));
          },
        });
      } else if (metric.type === 'counter') {
        const { value } = metric;
        new client.Counter({
          name,
          help,
          registers,
          collect() {
            this.reset();
            this.inc(value(sources));
          },
        });
      } else {
        const { value } = metric;
        new client.Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(value(sources));
          },
        });
      }
    }
    this.writeSeconds = histograms.writeSeconds!;
    this.batchRows = histograms.batchRows!;
    this.querySeconds = histograms.querySeconds!;
  }

  /** Adds a pulse; returns a function that removes it (its counters leave the sums). */
  addPulse(source: PulseMetricsSource): () => void {
    const counts: Record<DropReason, number> = { buffer_full: 0, closed: 0, close_timeout: 0, worker_failed: 0 };
    const stop = source.watch({
      drop: (info) => (counts[info.reason] += info.count),
      flushed: (info) => {
        this.writeSeconds.observe(info.durationMs / 1_000);
        this.batchRows.observe(info.rows);
      },
    });
    this.pulses.add(source);
    this.drops.add(counts);
    return () => {
      stop();
      this.pulses.delete(source);
      this.drops.delete(counts);
    };
  }

  /** Adds a bridge listener; returns a function that removes it. */
  addListener(source: ListenerMetricsSource): () => void {
    this.listeners.add(source);
    return () => void this.listeners.delete(source);
  }

  /** Adds a dashboard; returns a function that removes it. */
  addDashboard(source: DashboardMetricsSource): () => void {
    const onQuery = (info: { what: string; durationMs: number }) => {
      if (info.what === 'stats') this.querySeconds.observe(info.durationMs / 1_000);
    };
    source.on('query', onQuery);
    this.dashboards.add(source);
    return () => {
      source.off('query', onQuery);
      this.dashboards.delete(source);
    };
  }
}

const byRegistry = new WeakMap<MetricsRegistry, PgpulseMetrics>();

/**
 * The pgpulse metrics of `registry` (created and registered on first use), or
 * of a new private registry when none is given.
 */
export function pgpulseMetrics(registry: MetricsRegistry = new (promClient().Registry)()): PgpulseMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = new PgpulseMetrics(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

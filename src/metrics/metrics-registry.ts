/**
 * The parts of a prom-client `Registry` pgpulse uses, declared structurally so
 * that pgpulse's public types compile in an app without prom-client (an
 * optional peer dependency). prom-client's `Registry` (and its global
 * `register`) satisfies it; pass one wherever pgpulse takes a `registry`.
 */
export interface MetricsRegistry {
  /** The metrics in the Prometheus text exposition format. */
  metrics(): Promise<string>;
  /** Content type of {@link MetricsRegistry.metrics}'s text. */
  readonly contentType: string;
  /** The metric registered under `name`, if any. */
  getSingleMetric(name: string): unknown;
  /** Registers a metric (prom-client calls it for the metrics pgpulse creates). */
  registerMetric(metric: never): void;
  /** Removes the metric registered under `name`. */
  removeSingleMetric(name: string): void;
}

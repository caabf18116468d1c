/**
 * HTTP server request metrics in OpenTelemetry's semantic-convention shape,
 * fed from the capture batch (never on the request path): the Prometheus
 * histogram `http_server_request_duration_seconds` and the OpenTelemetry
 * instrument `http.server.request.duration`, both labelled by method, route
 * pattern and status code. The path is never a label, so cardinality is
 * bounded by the app's routes.
 */
import { createRequire } from 'node:module';
import type { Histogram } from 'prom-client';
import type { RequestLog } from '../schema/request-log.js';
import { openTelemetry } from '../shared/open-telemetry.js';
import type { MetricsRegistry } from './metrics-registry.js';
import { asPromRegistry, loadPromClient, PROM_CLIENT_MISSING, promClient } from './prom-client.js';

/** The parts of an OpenTelemetry `MeterProvider` pgpulse uses (structural: `@opentelemetry/api` stays an optional peer). */
export interface MeterProviderLike {
  getMeter(
    name: string,
    version?: string,
  ): {
    createHistogram(
      name: string,
      options?: { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } },
    ): { record(value: number, attributes?: Record<string, string | number>): void };
  };
}

/** What `httpMetrics` turns on. */
export interface HttpMetricsOptions {
  /**
   * Register the Prometheus histogram `http_server_request_duration_seconds`
   * on the pulse's registry. Default: when prom-client is installed (true
   * without it throws).
   */
  prometheus?: boolean;
  /**
   * Record the OpenTelemetry instrument `http.server.request.duration` on a
   * meter of `meterProvider`. Default: when `@opentelemetry/api` is installed
   * or a `meterProvider` is given.
   */
  openTelemetry?: boolean;
  /** The meter provider of the OpenTelemetry instrument. Default the global one of `@opentelemetry/api`. */
  meterProvider?: MeterProviderLike;
}

/** The Prometheus name of the histogram. */
export const HTTP_SERVER_DURATION_METRIC = 'http_server_request_duration_seconds';
/** The OpenTelemetry name of the instrument. */
export const HTTP_SERVER_DURATION_INSTRUMENT = 'http.server.request.duration';
/** OpenTelemetry's advised bucket boundaries for `http.server.request.duration`, seconds (5 ms to 10 s). */
export const HTTP_SERVER_DURATION_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
const DESCRIPTION = 'Duration of HTTP server requests.';

/** Methods kept as they are; every other one is `_OTHER` (the semantic convention, and what bounds the label). */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/** One request's attributes, with the semantic-convention names (dots; Prometheus labels use underscores). */
function attributesOf(log: RequestLog): { method: string; route: string | null; status: number } {
  return { method: KNOWN_METHODS.has(log.method) ? log.method : '_OTHER', route: log.route, status: log.status_code };
}

function packageVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** A registry's histogram, created once per registry (several pulses on one registry add up). */
const histograms = new WeakMap<MetricsRegistry, Histogram>();

function prometheusHistogram(registry: MetricsRegistry): Histogram {
  let histogram = histograms.get(registry);
  if (histogram) return histogram;
  if (registry.getSingleMetric(HTTP_SERVER_DURATION_METRIC) !== undefined)
    throw new Error(`pgpulse: httpMetrics: the registry already has a metric named ${HTTP_SERVER_DURATION_METRIC} (set httpMetrics.prometheus: false)`);
  histogram = new (promClient().Histogram)({
    name: HTTP_SERVER_DURATION_METRIC,
    help: DESCRIPTION,
    labelNames: ['http_request_method', 'http_route', 'http_response_status_code'],
    buckets: [...HTTP_SERVER_DURATION_BUCKETS],
    registers: [asPromRegistry(registry)],
  });
  histograms.set(registry, histogram);
  return histogram;
}

/** Records each captured request in the enabled instruments. */
export class HttpMetrics {
  private readonly prometheus: Histogram | undefined;
  private readonly otel: ReturnType<ReturnType<MeterProviderLike['getMeter']>['createHistogram']> | undefined;

  /** @param registry the pulse's registry (undefined without prom-client and no `registry` option). */
  constructor(options: HttpMetricsOptions, registry: MetricsRegistry | undefined) {
    const wantPrometheus = options.prometheus ?? loadPromClient() !== undefined;
    if (wantPrometheus && !registry) throw new Error(`pgpulse: httpMetrics.prometheus: ${PROM_CLIENT_MISSING}`);
    this.prometheus = wantPrometheus && registry ? prometheusHistogram(registry) : undefined;
    const api = openTelemetry();
    const wantOtel = options.openTelemetry ?? (options.meterProvider !== undefined || api !== undefined);
    const provider = options.meterProvider ?? api?.metrics.getMeterProvider();
    if (wantOtel && !provider)
      throw new Error('pgpulse: httpMetrics.openTelemetry needs @opentelemetry/api (an optional peer dependency: npm i @opentelemetry/api) or a meterProvider');
    this.otel =
      wantOtel && provider
        ? provider.getMeter('pgpulse', packageVersion()).createHistogram(HTTP_SERVER_DURATION_INSTRUMENT, {
            description: DESCRIPTION,
            unit: 's',
            advice: { explicitBucketBoundaries: [...HTTP_SERVER_DURATION_BUCKETS] },
          })
        : undefined;
    if (!this.prometheus && !this.otel)
      throw new Error('pgpulse: httpMetrics needs prom-client or @opentelemetry/api (optional peer dependencies), and not both turned off');
  }

  /** Records one request (called in the capture batch). */
  observe(log: RequestLog): void {
    const { method, route, status } = attributesOf(log);
    const seconds = log.duration_ms / 1_000;
    if (this.prometheus) {
      const labels: Record<string, string | number> = { http_request_method: method, http_response_status_code: status };
      if (route !== null) labels.http_route = route;
      this.prometheus.observe(labels, seconds);
    }
    if (this.otel) {
      const attributes: Record<string, string | number> = { 'http.request.method': method, 'http.response.status_code': status };
      if (route !== null) attributes['http.route'] = route;
      if (status >= 500) attributes['error.type'] = String(status);
      this.otel.record(seconds, attributes);
    }
  }
}

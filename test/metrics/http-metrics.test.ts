import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
} from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { HTTP_SERVER_DURATION_BUCKETS } from '../../src/metrics/http-metrics.js';
import { adapterNames, startApp } from '../support/four-apps.js';
import { Scrape } from '../support/prometheus.js';
import { test } from '../support/migrated-database.js';

const IDS = 20;

/** Drives the same traffic at one app: 20 distinct user paths on one route, a 404, a 500 and a PURGE. */
async function drive(pulse: Pulse, name: (typeof adapterNames)[number]): Promise<void> {
  const app = await startApp(name, pulse);
  try {
    for (let id = 1; id <= IDS; id++) await (await fetch(`${app.base}/users/${id}?q=${id}`)).arrayBuffer();
    await (await fetch(`${app.base}/nowhere/${Math.random()}`)).arrayBuffer();
    await (await fetch(`${app.base}/boom`)).arrayBuffer();
    await (await fetch(`${app.base}/users/1`, { method: 'PURGE' })).arrayBuffer();
  } finally {
    await app.close();
  }
  await pulse.flush();
}

describe('HTTP server metrics (httpMetrics)', () => {
  let url: string;
  test.beforeAll(({ database }) => {
    url = database.url;
  });

  it('Prometheus: http_server_request_duration_seconds by method, route pattern and status code, never by path', async () => {
    const registry = new Registry();
    await using pulse = createPulse({ connectionString: url, store: false, registry, httpMetrics: { openTelemetry: false } });
    for (const name of adapterNames) await drive(pulse, name);
    const scrape = new Scrape(await registry.metrics());
    const family = scrape.family('http_server_request_duration_seconds');
    expect(family.type).toBe('HISTOGRAM');
    expect(family.help).toBe('Duration of HTTP server requests.');
    const series = scrape.histogram('http_server_request_duration_seconds');
    const total = (match: (labels: Record<string, string>) => boolean) => series.filter((s) => match(s.labels)).reduce((n, s) => n + s.count, 0);
    // Bounded by route: every label set is one of a handful, whatever the paths were.
    expect(series.length).toBeLessThanOrEqual(8);
    for (const { labels } of series) {
      expect(Object.keys(labels).sort()).toEqual(
        'http_route' in labels ? ['http_request_method', 'http_response_status_code', 'http_route'] : ['http_request_method', 'http_response_status_code'],
      );
      expect(labels.http_route ?? '').not.toMatch(/\/users\/\d|nowhere|\?/);
    }
    // Express, Fastify and Hono name the route; bare node:http has none, so no http_route label.
    const users = series.find((s) => s.labels.http_route === '/users/:id' && s.labels.http_request_method === 'GET')!;
    expect(users.labels.http_response_status_code).toBe('200');
    expect(users.count).toBe(3 * IDS);
    expect(total((l) => l.http_route === undefined && l.http_request_method === 'GET' && l.http_response_status_code === '200')).toBe(IDS);
    expect(
      total((l) => l.http_request_method === 'GET' && l.http_response_status_code === '404'),
      'a 404 per app',
    ).toBe(4);
    expect(total((l) => l.http_response_status_code === '500')).toBe(4);
    // A method outside the standard ones is _OTHER (the convention; it also bounds the label).
    expect(total((l) => l.http_request_method === '_OTHER')).toBe(4);
    expect(series.some((s) => s.labels.http_request_method === 'PURGE')).toBe(false);
    // OpenTelemetry's default boundaries, seconds, plus +Inf; cumulative, ending at the count.
    expect([...users.buckets.keys()]).toEqual([...HTTP_SERVER_DURATION_BUCKETS, Number.POSITIVE_INFINITY]);
    expect(users.buckets.get(Number.POSITIVE_INFINITY)).toBe(users.count);
    expect(users.sum).toBeGreaterThan(0);
    expect(users.sum).toBeLessThan(3 * IDS * 10);
    expect(pulse.stats.captureFailures).toBe(0);
  });

  it('OpenTelemetry: the http.server.request.duration histogram on the global meter provider, read by an in-memory reader', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    try {
      await using pulse = createPulse({ connectionString: url, store: false, httpMetrics: { prometheus: false } });
      await drive(pulse, 'express');
      await drive(pulse, 'node:http');
      await provider.forceFlush();
      const scopes = exporter.getMetrics().at(-1)!.scopeMetrics;
      const scope = scopes.find((s) => s.scope.name === 'pgpulse')!;
      expect(scope.scope.version).toMatch(/^\d+\.\d+\.\d+/);
      const metric = scope.metrics.find((m) => m.descriptor.name === 'http.server.request.duration') as HistogramMetricData;
      expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM);
      expect(metric.descriptor.unit).toBe('s');
      const points = metric.dataPoints;
      const users = points.find((p) => p.attributes['http.route'] === '/users/:id' && p.attributes['http.request.method'] === 'GET')!;
      expect(users.attributes).toEqual({ 'http.request.method': 'GET', 'http.route': '/users/:id', 'http.response.status_code': 200 });
      expect(users.value.count).toBe(IDS);
      expect(users.value.buckets.boundaries).toEqual([...HTTP_SERVER_DURATION_BUCKETS]);
      // A 5xx carries error.type (the status code, as the convention says when there is no exception type).
      const failed = points.filter((p) => p.attributes['http.response.status_code'] === 500);
      expect(failed.map((p) => p.attributes['error.type'])).toEqual(['500', '500']);
      // node:http: no route attribute; never the path.
      const routeless = points.find((p) => p.attributes['http.route'] === undefined && p.attributes['http.response.status_code'] === 200)!;
      expect(routeless.value.count).toBe(IDS);
      for (const point of points) expect(Object.values(point.attributes).join(' ')).not.toMatch(/\/users\/\d|nowhere/);
      expect(points.filter((p) => p.attributes['http.request.method'] === '_OTHER').reduce((n, p) => n + p.value.count, 0)).toBe(2);
    } finally {
      metrics.disable();
      await provider.shutdown();
    }
  });

  it('an explicit meterProvider; the two instruments on one pulse; off by default', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const registry = new Registry();
    try {
      await using both = createPulse({ connectionString: url, store: false, registry, httpMetrics: { meterProvider: provider } });
      await drive(both, 'fastify');
      await provider.forceFlush();
      const metric = exporter
        .getMetrics()
        .at(-1)!
        .scopeMetrics.flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === 'http.server.request.duration') as HistogramMetricData;
      const otelCount = metric.dataPoints.reduce((n, p) => n + p.value.count, 0);
      const series = new Scrape(await registry.metrics()).histogram('http_server_request_duration_seconds');
      expect(series.reduce((n, s) => n + s.count, 0)).toBe(otelCount);
      expect(otelCount).toBe(IDS + 3);
    } finally {
      await provider.shutdown();
    }
    const plainRegistry = new Registry();
    await using plain = createPulse({ connectionString: url, store: false, registry: plainRegistry });
    await drive(plain, 'hono');
    expect(plainRegistry.getSingleMetric('http_server_request_duration_seconds')).toBeUndefined();
  });

  it('two pulses on one registry share the histogram; a name the app already uses is a clear error', async () => {
    const registry = new Registry();
    await using a = createPulse({ connectionString: url, store: false, registry, httpMetrics: { openTelemetry: false } });
    await using b = createPulse({ connectionString: url, store: false, registry, httpMetrics: { openTelemetry: false } });
    await drive(a, 'express');
    await drive(b, 'express');
    const series = new Scrape(await registry.metrics()).histogram('http_server_request_duration_seconds');
    expect(series.find((s) => s.labels.http_route === '/users/:id')?.count).toBe(2 * IDS);
    const taken = new Registry();
    taken.registerMetric(new (await import('prom-client')).Histogram({ name: 'http_server_request_duration_seconds', help: 'the app’s own', registers: [] }));
    expect(() => createPulse({ connectionString: url, store: false, registry: taken, httpMetrics: true })).toThrow(
      /already has a metric named http_server_request_duration_seconds/,
    );
  });
});

afterAll(() => metrics.disable());

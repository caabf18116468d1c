import { createServer, type Server } from 'node:http';
import express from 'express';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, startMetricsServer, type Dashboard } from '../../src/dashboard/index.js';
import { createTestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { test, type MigratedDatabase } from '../support/migrated-database.js';
import { closeServer, listen } from '../support/http.js';
import { scrape, Scrape } from '../support/prometheus.js';

const TOKEN = 'metrics-token';

describe('Prometheus metrics', () => {
  let database: MigratedDatabase;

  test.beforeAll(({ database: migrated }) => {
    database = migrated;
  });

  it('an app already using prom-client shows pgpulse metrics on its own /metrics', async () => {
    // The app's own registry and metric, served by the app's own route.
    const registry = new Registry();
    const orders = new Counter({ name: 'shop_orders_total', help: 'Orders placed.', registers: [registry] });
    await using pulse = createPulse({ connectionString: database.url, registry, maxWaitMs: 5 });
    await pulse.migrate();
    const app = express();
    app.use(pulse.middleware());
    app.get('/metrics', async (_req, res) => {
      res.set('content-type', registry.contentType).send(await registry.metrics());
    });
    app.post('/orders', (_req, res) => {
      orders.inc();
      res.status(201).end();
    });
    const server = createServer(app);
    const base = await listen(server);
    try {
      for (let i = 0; i < 5; i++) expect((await fetch(`${base}/orders`, { method: 'POST' })).status).toBe(201);
      await pulse.flush();
      const metrics = await scrape(`${base}/metrics`);
      expect(metrics.value('shop_orders_total')).toBe(5);
      expect(metrics.value('pgpulse_requests_captured_total')).toBe(5);
      expect(metrics.value('pgpulse_rows_written_total')).toBe(5);
      expect(metrics.family('pgpulse_rows_written_total').type).toBe('COUNTER');
      expect(metrics.value('pgpulse_buffer_rows')).toBe(0);
      expect(metrics.family('pgpulse_buffer_rows').type).toBe('GAUGE');
      expect(metrics.value('pgpulse_rows_dropped_total', { reason: 'buffer_full' })).toBe(0);
      expect(metrics.value('pgpulse_rows_rejected_total')).toBe(0);
      expect(metrics.value('pgpulse_write_retries_total')).toBe(0);
      expect(metrics.family('pgpulse_write_duration_seconds').type).toBe('HISTOGRAM');
      expect(metrics.count('pgpulse_write_duration_seconds')).toBe(pulse.stats.writer!.batches);
      expect(metrics.count('pgpulse_write_batch_rows')).toBeGreaterThan(0);
      // The scrape reaches the recorder too, but /metrics is a default probe path (defaultProbePaths): not recorded.
      while (pulse.recorder.received < 6) await new Promise((resolve) => setImmediate(resolve));
      await pulse.flush();
      expect(new Scrape(await pulse.metrics()).value('pgpulse_requests_captured_total')).toBe(5);
    } finally {
      await closeServer(server);
    }
  });

  it('uses a private registry by default, so two pulses never clash', async () => {
    await using a = createPulse({ connectionString: database.url, store: false });
    await using b = createPulse({ connectionString: database.url, store: false });
    expect(a.registry).not.toBe(b.registry);
    const metrics = new Scrape(await a.metrics());
    expect(metrics.value('pgpulse_requests_captured_total')).toBe(0);
    expect(metrics.families.has('shop_orders_total')).toBe(false);
  });

  it('adds up several pulses on one registry', async () => {
    const registry = new Registry();
    await using a = createPulse({ connectionString: database.url, registry, maxWaitMs: 5 });
    await using b = createPulse({ connectionString: database.url, registry, maxWaitMs: 5 });
    a.pubsub.publish(makeLog());
    b.pubsub.publish(makeLog());
    b.pubsub.publish(makeLog());
    await Promise.all([a.flush(), b.flush()]);
    expect(new Scrape(await registry.metrics()).value('pgpulse_rows_written_total')).toBe(3);
  });

  it('counts drops by reason', async () => {
    await using pulse = createPulse({ connectionString: database.url, maxBufferedRows: 1, maxWaitMs: 5 });
    for (let i = 0; i < 3; i++) pulse.pubsub.publish(makeLog());
    await pulse.flush();
    const metrics = new Scrape(await pulse.metrics());
    expect(metrics.value('pgpulse_rows_dropped_total', { reason: 'buffer_full' })).toBe(2);
    expect(metrics.value('pgpulse_rows_dropped_total', { reason: 'closed' })).toBe(0);
    expect(metrics.value('pgpulse_rows_written_total')).toBe(1);
  });

  it('reports NOTIFY bridge messages and the queue usage when the bridge is on', { tags: ['server'] }, async () => {
    await using pulse = createPulse({ connectionString: database.url, notify: true, maxWaitMs: 5 });
    pulse.pubsub.publish(makeLog());
    await pulse.flush();
    const metrics = new Scrape(await pulse.metrics());
    expect(metrics.value('pgpulse_notifications_sent_total')).toBe(1);
    const usage = metrics.value('pgpulse_notify_queue_usage_ratio');
    expect(usage).toBeGreaterThanOrEqual(0);
    expect(usage).toBeLessThan(1);
  });

  describe('dashboard /metrics and its own port', () => {
    let pulse: Pulse;
    let dashboard: Dashboard;
    let server: Server;
    let base: string;

    beforeAll(async () => {
      pulse = createPulse({ connectionString: database.url, maxWaitMs: 5 });
      dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, registry: pulse.registry, health: () => pulse.health() });
      server = createServer(dashboard.handler);
      base = await listen(server);
    });

    afterAll(async () => {
      await dashboard.close();
      await closeServer(server);
      await pulse.close();
    });

    it('serves /metrics behind the same token, with dashboard and pulse metrics', async () => {
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const now = Date.now();
      const stats = await fetch(`${base}/api/stats?from=${now - 60_000}&to=${now}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(stats.status).toBe(200);
      const metrics = await scrape(`${base}/metrics`, { authorization: `Bearer ${TOKEN}` });
      expect(metrics.family('pgpulse_dashboard_stats_query_duration_seconds').type).toBe('HISTOGRAM');
      expect(metrics.count('pgpulse_dashboard_stats_query_duration_seconds')).toBe(1);
      expect(metrics.value('pgpulse_dashboard_stats_query_errors_total')).toBe(0);
      expect(metrics.value('pgpulse_dashboard_sse_clients')).toBe(0);
      expect(metrics.value('pgpulse_dashboard_unauthorized_total')).toBe(2);
      expect(metrics.families.has('pgpulse_rows_written_total')).toBe(true);
    });

    it('counts failed stats queries', async () => {
      // A database that was never migrated: the stats query fails (503) and the counter moves.
      const empty = await createTestDatabase();
      const unmigrated = createPulse({ connectionString: empty.url, store: false });
      const broken = createDashboard({ db: unmigrated.db, pubsub: unmigrated.pubsub, registry: unmigrated.registry });
      const brokenServer = createServer(broken.handler);
      const brokenBase = await listen(brokenServer);
      try {
        const now = Date.now();
        expect((await fetch(`${brokenBase}/api/stats?from=${now - 60_000}&to=${now}`)).status).toBe(503);
        const metrics = await scrape(`${brokenBase}/metrics`);
        expect(metrics.value('pgpulse_dashboard_stats_query_errors_total')).toBe(1);
        expect(metrics.count('pgpulse_dashboard_stats_query_duration_seconds')).toBe(0);
      } finally {
        await broken.close();
        await closeServer(brokenServer);
        await unmigrated.close();
        await empty.drop();
      }
    });

    it('serves /healthz without a token', async () => {
      const response = await fetch(`${base}/healthz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ ok: true, postgres: { ok: true }, writer: { ok: true, pendingRows: 0 } });
    });

    it('serves metrics on a port of its own, without the dashboard', async () => {
      await using metricsServer = await startMetricsServer({ registry: pulse.registry, port: 0, token: TOKEN, health: () => pulse.health() });
      expect(metricsServer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect((await fetch(metricsServer.url)).status).toBe(401);
      const metrics = await scrape(metricsServer.url, { authorization: `Bearer ${TOKEN}` });
      expect(metrics.families.has('pgpulse_rows_written_total')).toBe(true);
      expect((await fetch(new URL('/', metricsServer.url))).status).toBe(404);
      expect((await fetch(new URL('/healthz', metricsServer.url))).status).toBe(200);
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { collect, spawnCli, waitForOutput } from '../support/cli.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/fixtures.js';
import { scrape } from '../support/prometheus.js';

describe('pgpulse dashboard: /metrics, --metrics-port and /healthz', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    await using pulse = createPulse({ connectionString: database.url });
    await pulse.migrate();
  });

  afterAll(async () => {
    await database.drop();
  });

  it('serves listener and dashboard metrics behind the token on both ports, and /healthz without it', async () => {
    const child = spawnCli(['dashboard', '--database-url', database.url, '--port', '0', '--metrics-port', '0', '--token', 'tok']);
    const result = collect(child);
    try {
      const [, page] = await waitForOutput(result, /pgpulse dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/);
      const [, metricsUrl] = await waitForOutput(result, /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
      const auth = { authorization: 'Bearer tok' };
      expect((await fetch(`${page}metrics`)).status).toBe(401);
      expect((await fetch(metricsUrl!)).status).toBe(401);

      await using writer = createPulse({ connectionString: database.url, notify: true, maxWaitMs: 5 });
      const sentAt = Date.now();
      writer.pubsub.broadcast({ request_id: 'cli-metrics', method: 'GET', path: '/m', status_code: 200, duration_ms: 1, node_id: 'other-node' });
      await writer.flush();
      await eventually(async () => (await scrape(metricsUrl!, auth)).value('pgpulse_listener_delivered_total') === 1, 20_000, 'row delivered');
      const onPage = await scrape(`${page}metrics`, auth);
      expect(onPage.value('pgpulse_listener_delivered_total')).toBe(1);
      // The lag of the one row delivered: from its end to its delivery, so within the time since it was sent.
      const lag = onPage.value('pgpulse_listener_lag_seconds');
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThanOrEqual((Date.now() - sentAt) / 1_000 + 0.1);
      expect(onPage.value('pgpulse_dashboard_sse_clients')).toBe(0);

      const health = await fetch(`${page}healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true, postgres: { ok: true }, listener: { ok: true } });
      expect((await fetch(new URL('/healthz', metricsUrl))).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await result).code).toBe(0);
  }, 120_000);
});

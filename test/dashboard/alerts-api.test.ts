import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import type { AlertOverview } from '../../src/alerts/alert-overview.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen, send } from '../support/http.js';

const TOKEN = 'alerts-api-token';

/** GET /api/alerts and /api/releases behind the dashboard token. */
describe('dashboard alerts and releases API', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({
      connectionString: database.url,
      release: 'v7',
      maxWaitMs: 5,
      cubeIntervalMs: 0,
      alertIntervalMs: 3_600_000,
      alerts: [
        { kind: 'errorRate', name: 'errors', threshold: 0.1, minRequests: 1 },
        { kind: 'noTraffic', name: 'silent' },
      ],
    });
    await pulse.migrate();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    server = createServer(dashboard.handler);
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await dashboard?.close();
    await pulse?.close();
    await database?.drop();
  });

  const get = (path: string, token: string | null = TOKEN) => send(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('answers the rules, states, firing alerts and history', async () => {
    pulse.pubsub.publish(makeLog({ status_code: 500 }));
    await pulse.flush();
    await pulse.alerts!.evaluate();
    const response = await get('/api/alerts');
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body) as AlertOverview;
    expect(body.rules.map((r) => r.name)).toEqual(['errors', 'silent']);
    expect(body.evaluator).toMatch(new RegExp(`^${pulse.nodeId}#`));
    expect(body.firing).toMatchObject([{ rule: 'errors', subject: '', state: 'firing', event: { state: 'firing', release: 'v7', value: 1 } }]);
    expect(body.history).toMatchObject([{ rule: 'errors', state: 'firing', release: 'v7' }]);
    expect((await get('/api/alerts', null)).status).toBe(401);
  });

  it('answers the releases of a range', async () => {
    const all = JSON.parse((await get('/api/releases')).body) as { releases: { release: string; nodes: number }[] };
    expect(all.releases).toMatchObject([{ release: 'v7', nodes: 1 }]);
    const later = await get(`/api/releases?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(JSON.parse(later.body)).toEqual({ releases: [] });
    const bad = await get('/api/releases?from=yesterday');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ error: 'invalid releases query', issues: [{ path: 'from' }] });
  });
});

import { createServer, type Server } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { openSse } from '../support/sse.js';

/** Alert transitions pushed to open pages as `event: alert` frames of the live stream. */
describe('dashboard alert watch', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({
      connectionString: database.url,
      maxWaitMs: 5,
      cubeIntervalMs: 0,
      alertIntervalMs: 3_600_000,
      alerts: [{ kind: 'errorRate', name: 'checkout-errors', route: '/checkout', threshold: 0.1, minRequests: 1 }],
    });
    await pulse.migrate();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, alertsWatchMs: 50 });
    server = createServer(dashboard.handler);
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await dashboard?.close();
    await pulse?.close();
    await database?.drop();
  });

  const latestId = async (): Promise<string | null> =>
    (await sql<{ id: string | null }>`select max(id)::text as id from pgpulse.alert_events`.execute(pulse.db)).rows[0]!.id;

  it('sends an alert frame (no id, outside the row sequence) when a rule fires and when it resolves', async () => {
    const client = await openSse(`${base}/api/stream`);
    try {
      const alertFrames = () => client.events.filter((e) => e.event === 'alert');
      // The first check after a page connects notifies too (nothing stored yet: id null).
      await eventually(() => alertFrames().length >= 1, 10_000, 'first alert frame');
      expect(JSON.parse(alertFrames()[0]!.data)).toEqual({ id: null });

      for (let i = 0; i < 5; i++) pulse.pubsub.publish(makeLog({ route: '/checkout', path: '/checkout', status_code: 500 }));
      await pulse.flush();
      await pulse.alerts!.evaluate();
      const fired = await latestId();
      expect(fired).not.toBeNull();
      await eventually(() => alertFrames().some((e) => JSON.parse(e.data).id === fired), 10_000, 'frame for the firing transition');

      await sql`delete from pgpulse.request_logs`.execute(pulse.db);
      for (let i = 0; i < 50; i++) pulse.pubsub.publish(makeLog({ route: '/checkout', path: '/checkout', status_code: 200 }));
      await pulse.flush();
      await pulse.alerts!.evaluate();
      const resolved = await latestId();
      expect(resolved).not.toBe(fired);
      await eventually(() => alertFrames().some((e) => JSON.parse(e.data).id === resolved), 10_000, 'frame for the resolving transition');
      expect(alertFrames().every((e) => e.id === undefined)).toBe(true);
      // Rows still arrive with their ids: the alert frames do not take part in Last-Event-ID.
      pulse.pubsub.broadcast(makeLog({ path: '/after-alerts' }));
      await eventually(() => client.events.some((e) => e.event === 'request'), 5_000, 'a row after the alerts');
      expect(client.events.find((e) => e.event === 'request')!.id).toBeDefined();
    } finally {
      client.close();
    }
  });

  it('validates alertsWatchMs before it opens anything', async () => {
    await eventually(() => dashboard.stats.clients === 0, 5_000, 'client gone');
    expect(dashboard.stats.alertWatchErrors).toBe(0);
    expect(() => createDashboard({ db: pulse.db, pubsub: pulse.pubsub, alertsWatchMs: -1 })).toThrow(
      'pgpulse dashboard: alertsWatchMs must be zero or more, got -1',
    );
  });
});

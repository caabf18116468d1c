// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { createServer, type Server } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { createListener, type Listener } from '../../src/listen/index.js';
import { collect, spawnCli, waitForOutput } from '../support/cli.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { openSse } from '../support/sse.js';

// A dashboard fed by the NOTIFY bridge (as `pgpulse dashboard` runs it): rows
// arrive committed, with their ids, and the SSE ids are those row ids.
describe('dashboard fed by the NOTIFY bridge', () => {
  let database: TestDatabase;
  let writer: Pulse;
  let listener: Listener;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    writer = createPulse({ connectionString: database.url, notify: true, maxWaitMs: 10 });
    await writer.migrate();
    listener = createListener({ connectionString: database.url });
    await listener.start();
    dashboard = createDashboard({ db: writer.db, pubsub: listener.pubsub, flushIntervalMs: 10 });
    server = createServer(dashboard.handler);
    base = await listen(server);
  });

  afterAll(async () => {
    await dashboard?.close();
    if (server) await closeServer(server);
    await listener?.close();
    await writer?.close();
    await database.drop();
  });

  it('uses committed row ids as SSE ids and resumes from one after a reconnect', async () => {
    const client = await openSse(`${base}/api/stream`);
    await eventually(() => dashboard.stats.clients === 1);
    for (let i = 0; i < 3; i++) writer.pubsub.broadcast(makeLog({ path: `/bridge/${i}`, node_id: 'app-1' }));
    await writer.flush();
    await eventually(() => client.events.length === 3, 10_000, 'three bridged rows');
    const { rows } = await sql<{ id: string; path: string }>`select id::text, path from pgpulse.request_logs`.execute(writer.db);
    const byPath = new Map(rows.map((r) => [r.path, r.id]));
    for (const event of client.events) expect(event.id).toBe(byPath.get(JSON.parse(event.data).path));
    client.close();
    await eventually(() => dashboard.stats.clients === 0);

    writer.pubsub.broadcast(makeLog({ path: '/bridge/while-away', node_id: 'app-1' }));
    await writer.flush();
    await eventually(() => dashboard.stats.events === 4, 10_000, 'fourth row reached the hub');
    const resumed = await openSse(`${base}/api/stream`, { 'last-event-id': client.events[2]!.id! });
    await eventually(() => resumed.events.length === 1, 10_000, 'replayed row');
    expect(JSON.parse(resumed.events[0]!.data).path).toBe('/bridge/while-away');
    resumed.close();
  });

  it('pgpulse dashboard prints its URL, streams bridged rows and exits 0 on SIGINT', async () => {
    const child = spawnCli(['dashboard', '--database-url', database.url, '--port', '0']);
    const result = collect(child);
    const [, url] = await waitForOutput(result, /pgpulse dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/);
    const stream = await openSse(`${url}api/stream`);
    writer.pubsub.broadcast(makeLog({ path: '/via-cli', node_id: 'app-2' }));
    await writer.flush();
    await eventually(() => stream.events.some((e) => JSON.parse(e.data).path === '/via-cli'), 15_000, 'row through the CLI dashboard');
    child.kill('SIGINT');
    const exit = await result;
    stream.close();
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(/SIGINT received, stopping/);
  });
});

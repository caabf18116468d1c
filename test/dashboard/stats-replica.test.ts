import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { startEmbeddedReplica } from '../../src/demo/embedded-postgres.js';
import { createListener } from '../../src/listen/index.js';
import { collect, spawnCli, waitForOutput } from '../support/cli.js';
import { createTestDatabase, withDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { openSse } from '../support/sse.js';

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** A real streaming replica (embedded Postgres 17, hot standby) serving the dashboard's stats while the bridge stays on the primary. */
describe('dashboard stats from a read replica', () => {
  let primary: EmbeddedServer;
  let replica: EmbeddedServer;
  let database: TestDatabase;
  let replicaUrl: string;
  let pulse: Pulse;

  beforeAll(async () => {
    primary = await startEmbeddedPostgres({ postgresFlags: ['-c', 'wal_keep_size=256MB'] });
    database = await createTestDatabase(primary.url);
    pulse = createPulse({ connectionString: database.url, nodeId: 'primary-app', notify: true, maxWaitMs: 5 });
    await pulse.migrate();
    replica = await startEmbeddedReplica(primary);
    replicaUrl = withDatabase(replica.url, database.name);
  }, 240_000);

  afterAll(async () => {
    await pulse?.close();
    await replica?.dispose();
    await primary?.dispose();
  });

  it('pgpulse dashboard --stats-database-url reads stats on the replica; LISTEN and the live stream stay on the primary', async () => {
    for (let i = 0; i < 25; i++) pulse.pubsub.broadcast(makeLog({ path: `/replicated/${i}` }));
    await pulse.flush();
    expect((await query<{ r: boolean }>(replicaUrl, 'select pg_is_in_recovery() as r'))[0]!.r).toBe(true);
    await eventually(
      async () => Number((await query<{ n: string }>(replicaUrl, 'select count(*) as n from pgpulse.request_logs'))[0]!.n) === 25,
      30_000,
      'rows replicated',
    );

    const child = spawnCli(['dashboard', '--database-url', database.url, '--stats-database-url', replicaUrl, '--port', '0']);
    const result = collect(child);
    try {
      const [, url] = await waitForOutput(result, /pgpulse dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/);
      const now = Date.now();
      const response = await fetch(`${url}api/stats?from=${now - 3_600_000}&to=${now + 60_000}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { totals: { requests: number } };
      expect(body.totals.requests).toBe(25);

      const onReplica = await query<{ application_name: string }>(
        replicaUrl,
        'select application_name from pg_stat_activity where datname = current_database()',
      );
      const onPrimary = await query<{ application_name: string }>(
        database.url,
        'select application_name from pg_stat_activity where datname = current_database()',
      );
      expect(onReplica.map((r) => r.application_name)).toContain('pgpulse-dashboard');
      expect(onPrimary.map((r) => r.application_name)).not.toContain('pgpulse-dashboard');
      expect(onPrimary.map((r) => r.application_name)).toContain('pgpulse-listen');

      const stream = await openSse(`${url}api/stream`);
      try {
        pulse.pubsub.broadcast(makeLog({ path: '/live-from-primary' }));
        await pulse.flush();
        await eventually(() => stream.events.some((e) => (JSON.parse(e.data) as { path?: string }).path === '/live-from-primary'), 15_000, 'live row');
      } finally {
        stream.close();
      }
    } finally {
      child.kill('SIGINT');
    }
    const exit = await result;
    expect(exit.code, exit.stderr).toBe(0);
  }, 120_000);

  it('a listener pointed at the replica is refused: LISTEN needs the primary', async () => {
    const listener = createListener({ connectionString: replicaUrl });
    try {
      await expect(listener.start()).rejects.toThrow(/cannot LISTEN on channel "pgpulse_requests": .*cannot execute LISTEN during recovery/);
    } finally {
      await listener.close();
    }
  });
});

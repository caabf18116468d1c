// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { createListener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { hasPgBouncer, PGBOUNCER_BINARY, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';

const available = await hasPgBouncer();
if (!available) console.warn(`[pgbouncer] ${PGBOUNCER_BINARY} is not installed (apt-get install pgbouncer); skipping the PgBouncer tests`);

/** A real PgBouncer in transaction pool mode in front of the test server. */
describe.skipIf(!available)('through PgBouncer (pool_mode=transaction)', () => {
  let database: TestDatabase;
  let bouncer: PgBouncer;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    const migrator = createPulse({ connectionString: database.url, store: false });
    await migrator.migrate();
    await migrator.close();
    bouncer = await startPgBouncer(inject('databaseUrl'));
  }, 60_000);

  afterAll(async () => {
    await bouncer?.close();
    await database?.drop();
  });

  it('the writer works through it, rollups and NOTIFY included', async () => {
    const pulse = createPulse({ connectionString: bouncer.url(database.url), nodeId: 'via-bouncer', notify: true, maxRows: 50, maxWaitMs: 5 });
    const direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
    try {
      for (let i = 0; i < 500; i++) pulse.pubsub.broadcast(makeLog({ path: `/bouncer/${i}`, node_id: 'via-bouncer' }));
      await pulse.flush();
      const stats = pulse.writer!.stats;
      expect(stats.written).toBe(500);
      expect(stats.dropped + stats.rejected + stats.notificationsFailed).toBe(0);
      expect(stats.notifications).toBe(stats.batches);
      const stored = await direct.query<{ n: string }>(`select count(*) as n from pgpulse.request_logs where path like '/bouncer/%'`);
      expect(Number(stored.rows[0]!.n)).toBe(500);
      const rolled = await direct.query<{ n: string }>(`select coalesce(sum(requests), 0) as n from pgpulse.rollups where grain = 'minute'`);
      expect(Number(rolled.rows[0]!.n)).toBe(500);
    } finally {
      await pulse.close();
      await direct.end();
    }
  });

  it('a listener pointed at it is refused with a clear message', async () => {
    const listener = createListener({ connectionString: bouncer.url(database.url), connectTimeoutMs: 2_000 });
    try {
      await expect(listener.start()).rejects.toThrow(
        /cannot LISTEN on channel "pgpulse_requests": LISTEN does not work through 127\.0\.0\.1:\d+: a probe notification sent from another session did not arrive within 2000 ms\. Is it a transaction-mode pooler \(PgBouncer pool_mode=transaction\)\?.*pass listenConnectionString/,
      );
    } finally {
      await listener.close();
    }
  });

  it('works with LISTEN direct and queries through it', async () => {
    const listener = createListener({ connectionString: bouncer.url(database.url), listenConnectionString: database.url });
    const rows: StoredRequestLog[] = [];
    listener.pubsub.subscribe(({ event }) => void rows.push(event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
    const pulse = createPulse({ connectionString: bouncer.url(database.url), nodeId: 'via-bouncer-2', notify: true, maxWaitMs: 5 });
    try {
      await listener.start();
      // Large enough to travel as id ranges: the listener fetches the rows through PgBouncer.
      for (let i = 0; i < 200; i++) pulse.pubsub.broadcast(makeLog({ path: `/bouncer2/${i}`, user_agent: 'y'.repeat(200) }));
      await pulse.flush();
      await eventually(() => rows.length === 200 && listener.stats.queued === 0, 15_000, '200 rows delivered');
      expect(new Set(rows.map((r) => r.id)).size).toBe(200);
      expect(listener.stats.fetched).toBeGreaterThan(0);
    } finally {
      await pulse.close();
      await listener.close();
    }
  });
});

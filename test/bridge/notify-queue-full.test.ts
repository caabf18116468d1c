import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createListener, type Listener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually, makeLog } from '../support/fixtures.js';

/**
 * The NOTIFY queue is cluster-wide and cannot advance past the slowest
 * listening session. Here a session LISTENs and then sits idle in a
 * transaction, so the (deliberately tiny, Postgres 17 `max_notify_queue_pages`)
 * queue fills. Rows must all commit anyway, and a listener must still
 * deliver each of them exactly once (by its periodic catch-up).
 */
describe('bridge with a full NOTIFY queue (Postgres 17, max_notify_queue_pages=64)', () => {
  let postgres: EmbeddedServer;
  let database: TestDatabase;
  let sql: pg.Client;
  let blocker: pg.Client;
  let listener: Listener;
  const delivered: StoredRequestLog[] = [];
  const deliveredAt = new Map<string, number>();

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres({ postgresFlags: ['-c', 'max_notify_queue_pages=64'] });
    database = await createTestDatabase(postgres.url);
    const migrator = createPulse({ connectionString: database.url, store: false });
    await migrator.migrate();
    await migrator.close();
    // A Client, not a Pool: its end() waits until the server closed the session, before the server stops.
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    blocker = new pg.Client({ connectionString: database.url, application_name: 'queue-blocker' });
    await blocker.connect();
    await blocker.query('listen pgpulse_requests');
    await blocker.query('begin');
    await blocker.query('select 1');
    listener = createListener({ connectionString: database.url });
    listener.pubsub.subscribe(
      ({ event }) => {
        delivered.push(event as StoredRequestLog);
        deliveredAt.set(event.request_id, Date.now());
      },
      { maxQueue: Number.MAX_SAFE_INTEGER },
    );
    await listener.start();
  }, 180_000);

  afterAll(async () => {
    await listener?.close();
    await blocker?.end().catch(() => {});
    await sql?.end();
    await postgres?.dispose();
  });

  /** Writes `rows` rows as a busy app node would, in batches of at most 2 rows (`maxRows`). */
  async function writeSmallBatches(pulse: Pulse, prefix: string, rows: number): Promise<void> {
    for (let i = 0; i < rows; i++) {
      pulse.pubsub.broadcast(makeLog({ path: `/${prefix}/${i}`, node_id: prefix }));
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await pulse.flush();
  }

  it('commits every row while the queue fills, and the listener delivers each exactly once', async () => {
    // A polite writer (defaults: pause at 50% queue usage) and a stubborn one that notifies until Postgres refuses.
    const polite = createPulse({ connectionString: database.url, nodeId: 'polite', notify: true, maxRows: 2, maxBufferedRows: 10_000 });
    const stubborn = createPulse({
      connectionString: database.url,
      nodeId: 'stubborn',
      notify: { maxQueueUsage: 1, pauseMs: 20 },
      maxRows: 2,
      maxBufferedRows: 10_000,
    });
    const failures: string[] = [];
    let skippedEvents = 0;
    let pausedEvents = 0;
    stubborn.writer!.on('notifyFailed', ({ error }) => failures.push(error.message));
    polite.writer!.on('notifySkipped', () => skippedEvents++);
    polite.writer!.on('notifyPaused', () => pausedEvents++);
    const started = Date.now();
    try {
      await writeSmallBatches(polite, 'polite', 3_000);
      await writeSmallBatches(stubborn, 'stubborn', 3_000);
      const writeMs = Date.now() - started;
      const usage = (await sql.query<{ u: number }>('select pg_notification_queue_usage() as u')).rows[0]!.u;

      const p = polite.writer!.stats;
      const s = stubborn.writer!.stats;
      expect(p.written + s.written).toBe(6_000);
      expect(p.dropped + s.dropped + p.rejected + s.rejected).toBe(0);
      const stored = Number((await sql.query<{ n: string }>('select count(*) as n from pgpulse.request_logs')).rows[0]!.n);
      expect(stored).toBe(6_000);
      // The polite writer stopped at half the queue; the stubborn one filled it and was refused.
      expect(p.notificationsFailed).toBe(0);
      expect(p.notificationsSkipped).toBeGreaterThan(0);
      expect(skippedEvents).toBe(p.notificationsSkipped);
      expect(pausedEvents).toBeGreaterThan(0);
      expect(p.notifyQueueUsage).toBeGreaterThanOrEqual(0.5);
      expect(s.notificationsFailed).toBeGreaterThan(0);
      expect(failures[0]).toMatch(/NOTIFY after commit failed \(the rows are committed\): too many notifications in the NOTIFY queue/);
      expect(s.notifyQueueUsage).toBeGreaterThan(0.99);
      expect(usage).toBeGreaterThan(0.99);

      await eventually(() => delivered.length >= 6_000 && listener.stats.queued === 0, 30_000, '6,000 rows delivered');
      const ids = delivered.map((r) => r.id).sort((a, b) => a - b);
      expect(new Set(ids).size).toBe(ids.length);
      const expected = (await sql.query<{ id: string }>('select id from pgpulse.request_logs order by id')).rows.map((r) => Number(r.id));
      expect(ids).toEqual(expected);
      expect(listener.stats.caughtUpPeriodic).toBeGreaterThan(0);
      expect(listener.stats.caughtUp).toBe(listener.stats.caughtUpPeriodic);

      // Catch-up bound: a batch committed while the queue is full, from commit to delivery.
      const lags: number[] = [];
      for (let round = 0; round < 8; round++) {
        const log = makeLog({ path: `/bound/${round}`, node_id: 'stubborn' });
        stubborn.pubsub.broadcast(log);
        await stubborn.flush();
        const committed = Date.now();
        await eventually(() => deliveredAt.has(log.request_id), 10_000, 'row delivered without notification');
        lags.push(deliveredAt.get(log.request_id)! - committed);
      }
      lags.sort((a, b) => a - b);
      console.log(
        `[queue full] ${p.batches + s.batches} batches of ≤2 rows in ${writeMs} ms; notifications sent ${p.notifications + s.notifications}, ` +
          `skipped ${p.notificationsSkipped + s.notificationsSkipped}, failed ${p.notificationsFailed + s.notificationsFailed}; queue usage ${usage.toFixed(3)}; ` +
          `listener: ${listener.stats.delivered} delivered, ${listener.stats.caughtUpPeriodic} by periodic catch-up, ` +
          `${listener.stats.duplicatesSkipped} duplicates skipped; commit→deliver without notification: min ${lags[0]} ms, max ${lags.at(-1)} ms`,
      );
    } finally {
      await polite.close();
      await stubborn.close();
    }
  }, 180_000);

  it('delivers by notification again once the stuck session lets the queue drain', async () => {
    await blocker.query('commit');
    await blocker.query('unlisten *');
    await eventually(
      async () => {
        // Postgres moves the queue's tail when a notifier crosses a page boundary or a listener leaves.
        await sql.query(`select pg_notify('pgpulse_test_drain', '')`).catch(() => {});
        return (await sql.query<{ u: number }>('select pg_notification_queue_usage() as u')).rows[0]!.u < 0.01;
      },
      20_000,
      'queue drained',
    );
    const pulse = createPulse({ connectionString: database.url, nodeId: 'after', notify: true, maxWaitMs: 5 });
    try {
      const before = { caughtUp: listener.stats.caughtUp, notifications: listener.stats.notifications };
      const count = delivered.length;
      for (let i = 0; i < 20; i++) pulse.pubsub.broadcast(makeLog({ path: `/after/${i}`, node_id: 'after' }));
      await pulse.flush();
      await eventually(() => delivered.length === count + 20, 10_000, 'rows after the drain');
      expect(pulse.writer!.stats.notificationsFailed + pulse.writer!.stats.notificationsSkipped).toBe(0);
      expect(listener.stats.notifications).toBeGreaterThan(before.notifications);
    } finally {
      await pulse.close();
    }
  }, 60_000);
});

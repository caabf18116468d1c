/**
 * health() tells the truth: not ok once rows have been pending for
 * healthStalledAfterMs with no write committing (a read-only database, a
 * lock), with the last error; pendingRows counts every uncommitted row on both
 * threads and is 0 when idle and after a close-timeout drop.
 */
import pg from 'pg';
import { afterEach, describe, expect, test } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { adminQuery, createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { inject } from 'vitest';

describe('writer health', () => {
  let database: TestDatabase | undefined;
  let pulse: Pulse | undefined;
  afterEach(async () => {
    await pulse?.close();
    pulse = undefined;
    await database?.drop();
    database = undefined;
  });

  const options = { maintenanceIntervalMs: 0, cubeIntervalMs: 0, maxWaitMs: 5, minBackoffMs: 20, maxBackoffMs: 100, healthStalledAfterMs: 500 };

  test('a read-only database: not ok after healthStalledAfterMs, with the last error; the close-timeout drop leaves 0 pending', async () => {
    database = await createMigratedTestDatabase();
    // On this test's own database only.
    await adminQuery(inject('databaseUrl'), `alter database ${database.name} set default_transaction_read_only = on`);
    pulse = createPulse({ connectionString: database.url, ...options, closeTimeoutMs: 300 });
    for (let i = 0; i < 5; i++) pulse.pubsub.broadcast(makeLog({ path: `/ro/${i}` }));
    await eventually(async () => (await pulse!.health()).writer?.ok === false, 10_000, 'the writer reported stalled');
    const health = await pulse.health();
    expect(health.ok).toBe(false);
    expect(health.postgres.ok).toBe(true); // select 1 still answers: only writes fail
    expect(health.writer).toMatchObject({ pendingRows: 5, stalledAfterMs: 500 });
    expect(health.writer!.stalledMs).toBeGreaterThanOrEqual(500);
    expect(health.writer!.lastError?.message).toMatch(/read-only transaction/);
    expect(await pulse.metrics()).toMatch(/^pgpulse_writer_healthy 0$/m);
    await pulse.close();
    expect(pulse.stats.writer).toMatchObject({ pending: 0, dropped: 5, written: 0 });
  }, 60_000);

  test('a lock: stalled while it is held, ok and 0 pending once it is released', async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, ...options });
    pulse.pubsub.broadcast(makeLog({ path: '/before' }));
    await pulse.flush();
    expect((await pulse.health()).writer).toMatchObject({ ok: true, pendingRows: 0, stalledMs: 0 });
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table pgpulse.request_logs in access exclusive mode');
      for (let i = 0; i < 3; i++) pulse.pubsub.broadcast(makeLog({ path: `/locked/${i}` }));
      await eventually(async () => (await pulse!.health()).writer?.ok === false, 10_000, 'the writer reported stalled');
      expect((await pulse.health()).writer?.pendingRows).toBe(3);
      await locker.query('rollback');
    } finally {
      await locker.end();
    }
    await pulse.flush();
    expect((await pulse.health()).writer).toMatchObject({ ok: true, pendingRows: 0, stalledMs: 0 });
    expect(await pulse.metrics()).toMatch(/^pgpulse_writer_healthy 1$/m);
  }, 60_000);

  test('worker mode: pendingRows and pgpulse_buffer_rows are 0 once everything is written', async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, ...options, writerMode: 'worker' });
    for (let i = 0; i < 250; i++) pulse.pubsub.broadcast(makeLog({ path: `/w/${i}` }));
    await pulse.flush();
    expect(pulse.stats.writer).toMatchObject({ written: 250, pending: 0 });
    expect((await pulse.health()).writer?.pendingRows).toBe(0);
    expect(await pulse.metrics()).toMatch(/^pgpulse_buffer_rows 0$/m);
  }, 60_000);
});

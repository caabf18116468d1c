import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { Writer } from '../../src/writer/writer.js';
import { createTestDatabase } from '../support/database.js';
import { test, type MigratedDatabase } from '../support/migrated-database.js';
import { eventually, makeLog } from '../support/fixtures.js';

describe('Writer', () => {
  let database: MigratedDatabase;
  let pool: pg.Pool;
  let db: Kysely<PulseDatabase>;

  test.beforeAll(({ database: migrated }) => {
    database = migrated;
    ({ db, pool } = migrated);
  });
  beforeEach(async () => {
    await sql`truncate pgpulse.request_logs`.execute(db);
  });

  const count = async () => Number((await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs`.execute(db)).rows[0]!.n);

  it('writes batches of at most maxRows, one statement each', async () => {
    const writer = new Writer(db, { nodeId: 'n1', maxRows: 300, maxWaitMs: 10_000 });
    const flushed: number[] = [];
    writer.on('flushed', (info) => flushed.push(info.rows));
    for (let i = 0; i < 1000; i++) writer.add(makeLog({ path: `/p/${i}` }));
    await writer.flush();
    expect(await count()).toBe(1000);
    expect(Math.max(...flushed)).toBeLessThanOrEqual(300);
    expect(flushed.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(writer.stats).toMatchObject({ written: 1000, dropped: 0, pending: 0 });
    await writer.close();
  });

  it('writes after maxWaitMs without an explicit flush', async () => {
    const writer = new Writer(db, { nodeId: 'n1', maxWaitMs: 20 });
    writer.add(makeLog());
    await eventually(async () => (await count()) > 0, 10_000, 'the row written without a flush');
    expect(await count()).toBe(1);
    await writer.close();
  });

  it('stores every field faithfully, including a 64 KB user agent and odd characters', async () => {
    const writer = new Writer(db, { nodeId: 'n1' });
    const log = makeLog({
      path: "/a'; drop table x; --/é/\u0001",
      route: null,
      user_agent: 'U'.repeat(65_536),
      referer: 'https://example.com/?q="1"',
      response_bytes: null,
      ip: '::1',
      inserted_at: new Date('2026-03-04T05:06:07.089Z'),
    });
    writer.add(log);
    await writer.close();
    const row = await db.selectFrom('pgpulse.request_logs').selectAll().executeTakeFirstOrThrow();
    expect({ ...row, id: undefined, tx_id: undefined, response_bytes: row.response_bytes }).toEqual({ ...log, id: undefined, tx_id: undefined });
  });

  it('isolates a row Postgres rejects and keeps the rest', async () => {
    await sql`alter table pgpulse.request_logs add constraint no_poison check (path <> '/poison')`.execute(db);
    try {
      const writer = new Writer(db, { nodeId: 'n1' });
      const rejected: string[] = [];
      writer.on('rejected', (info) => rejected.push(info.row.path));
      for (let i = 0; i < 50; i++) writer.add(makeLog({ path: i === 17 ? '/poison' : `/ok/${i}` }));
      await writer.close();
      expect(await count()).toBe(49);
      expect(rejected).toEqual(['/poison']);
      expect(writer.stats.rejected).toBe(1);
    } finally {
      await sql`alter table pgpulse.request_logs drop constraint no_poison`.execute(db);
    }
  });

  it('drops beyond maxBufferedRows and counts it', async () => {
    const writer = new Writer(db, { nodeId: 'n1', maxBufferedRows: 10, maxWaitMs: 10_000, maxRows: 1000 });
    const drops: number[] = [];
    writer.on('drop', (info) => drops.push(info.count));
    for (let i = 0; i < 25; i++) writer.add(makeLog());
    await writer.close();
    expect(writer.stats.dropped).toBe(15);
    expect(drops.reduce((a, b) => a + b, 0)).toBe(15);
    expect(await count()).toBe(10);
  });

  it('close() flushes and is safe to call twice; rows after close are counted as dropped', async () => {
    const writer = new Writer(db, { nodeId: 'n1', maxWaitMs: 60_000 });
    for (let i = 0; i < 10; i++) writer.add(makeLog());
    await Promise.all([writer.close(), writer.close()]);
    await writer.close();
    expect(await count()).toBe(10);
    writer.add(makeLog());
    expect(writer.stats.dropped).toBe(1);
  });

  it('rejects invalid options with a clear error', () => {
    expect(() => new Writer(db, { nodeId: 'n', maxRows: 0 })).toThrow(/maxRows must be a positive number/);
    expect(() => new Writer(db, { nodeId: 'n', maxWaitMs: -1 })).toThrow(/maxWaitMs/);
  });

  it('keeps rows while the table is missing, then writes them once it exists', async () => {
    const other = await createTestDatabase();
    const pulse = createPulse({ connectionString: other.url, minBackoffMs: 20, maxBackoffMs: 100 });
    const errors: string[] = [];
    pulse.writer!.on('writeError', (info) => errors.push(info.error.message));
    try {
      for (let i = 0; i < 20; i++) pulse.pubsub.broadcast(makeLog());
      await eventually(() => errors.length >= 2, 10_000, 'two failed writes (retried)');
      expect(errors[0]).toMatch(/run `pgpulse migrate`/);
      await pulse.migrate();
      await pulse.flush();
      const n = await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs`.execute(pulse.db);
      expect(Number(n.rows[0]!.n)).toBe(20);
      expect(pulse.stats.writer).toMatchObject({ written: 20, dropped: 0 });
    } finally {
      await pulse.close();
      await other.drop();
    }
  });

  it('attach mode never closes what it did not open', async () => {
    const appPool = new pg.Pool({ connectionString: database.url, max: 2 });
    const appDb = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 2 }) }) });
    try {
      const viaPool = createPulse({ pool: appPool });
      viaPool.pubsub.broadcast(makeLog());
      await viaPool.close();
      await viaPool.close();
      expect((await appPool.query('select 1 as one')).rows[0].one).toBe(1);

      const viaKysely = createPulse({ db: appDb });
      viaKysely.pubsub.broadcast(makeLog());
      await viaKysely[Symbol.asyncDispose]();
      expect((await sql<{ one: number }>`select 1 as one`.execute(appDb)).rows[0]!.one).toBe(1);
      expect(await count()).toBe(2);
    } finally {
      await appPool.end();
      await appDb.destroy();
    }
  });

  it('needs exactly one connection option', () => {
    expect(() => createPulse({})).toThrow(/exactly one of connectionString, pool or db/);
    expect(() => createPulse({ connectionString: database.url, pool })).toThrow(/got 2/);
  });
});

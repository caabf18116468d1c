import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { createListener } from '../../src/listen/index.js';
import { lsnBefore } from '../../src/listen/wal-transport.js';
import { adminQuery, createTestDatabase, withDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually } from '../support/fixtures.js';
import { hasPgBouncer, PGBOUNCER_BINARY, startPgBouncer } from '../support/pgbouncer.js';

const bouncerAvailable = await hasPgBouncer();
if (!bouncerAvailable) console.warn(`[wal] ${PGBOUNCER_BINARY} is not installed (apt-get install pgbouncer); skipping the pooler case`);

async function migrated(url: string): Promise<void> {
  const pulse = createPulse({ connectionString: url, store: false });
  await pulse.migrate();
  await pulse.close();
}

/** start() of a wal listener on `url`: the error it rejects with. */
async function startError(url: string): Promise<Error> {
  const listener = createListener({ transport: 'wal', connectionString: url, connectTimeoutMs: 5_000 });
  try {
    await listener.start();
  } catch (error) {
    return error as Error;
  } finally {
    await listener.close();
  }
  throw new Error('start() resolved');
}

describe('lsnBefore', () => {
  it('steps back one byte, across the 32-bit boundary', () => {
    expect(lsnBefore('0/16B3748')).toBe('0/16B3747');
    expect(lsnBefore('1/0')).toBe('0/FFFFFFFF');
    expect(lsnBefore('0/0')).toBe('0/0');
  });
});

describe('wal transport on a server without wal_level=logical', { tags: ['server'] }, () => {
  let database: TestDatabase;
  let walLevel: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    await migrated(database.url);
    walLevel = (await adminQuery(inject('databaseUrl'), 'show wal_level')).rows[0].wal_level as string;
  }, 60_000);

  afterAll(async () => {
    await database?.drop();
  });

  it('start() fails naming wal_level and the managed-service flags', async (context) => {
    if (walLevel === 'logical') context.skip('the test server already runs wal_level=logical');
    const error = await startError(database.url);
    expect(error.message).toMatch(/wal_level is 'replica', logical decoding needs wal_level = logical/);
    expect(error.message).toMatch(/rds\.logical_replication/);
    expect(error.message).toMatch(/cloudsql\.logical_decoding/);
  });
});

describe('wal transport: what the server must allow', () => {
  let postgres: EmbeddedServer;
  let url: string;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres({
      postgresFlags: ['-c', 'wal_level=logical', '-c', 'max_replication_slots=2', '-c', 'max_wal_senders=10'],
    });
    await adminQuery(postgres.url, 'create database wal_errors');
    url = withDatabase(postgres.url, 'wal_errors');
    await migrated(url);
  }, 180_000);

  afterAll(async () => {
    await postgres?.dispose();
  });

  it('a role without REPLICATION is told to get it', async () => {
    await adminQuery(url, `create role plain_reader login password 'x'`);
    await adminQuery(url, `grant usage on schema pgpulse to plain_reader; grant select on all tables in schema pgpulse to plain_reader`);
    const u = new URL(url);
    u.username = 'plain_reader';
    u.password = 'x';
    const error = await startError(u.toString());
    expect(error.message).toMatch(/lacks the REPLICATION attribute: ALTER ROLE … WITH REPLICATION/);
  });

  it('a missing publication is named with the statement that creates it', async () => {
    await adminQuery(url, 'drop publication pgpulse_request_logs');
    try {
      const error = await startError(url);
      expect(error.message).toMatch(/publication "pgpulse_request_logs" does not exist/);
      expect(error.message).toMatch(/CREATE PUBLICATION pgpulse_request_logs FOR TABLE pgpulse\.request_logs/);
    } finally {
      await adminQuery(
        url,
        `create publication pgpulse_request_logs for table pgpulse.request_logs with (publish = 'insert', publish_via_partition_root = true)`,
      );
    }
  });

  it('a publication that would not stream every column of inserts as pgpulse.request_logs is named with the statement that fixes it', async () => {
    const restore = `alter publication pgpulse_request_logs set table pgpulse.request_logs; alter publication pgpulse_request_logs set (publish = 'insert', publish_via_partition_root = true)`;
    try {
      // Published partition by partition: rows would arrive as request_logs_p… and be ignored.
      await adminQuery(url, `alter publication pgpulse_request_logs set (publish_via_partition_root = false)`);
      expect((await startError(url)).message).toMatch(
        /publication "pgpulse_request_logs" does not publish pgpulse\.request_logs as one relation .*ALTER PUBLICATION pgpulse_request_logs SET TABLE pgpulse\.request_logs; ALTER PUBLICATION pgpulse_request_logs SET \(publish = 'insert', publish_via_partition_root = true\)/,
      );
      await adminQuery(url, restore);
      await adminQuery(url, `create table public.not_pgpulse (id int); alter publication pgpulse_request_logs set table public.not_pgpulse`);
      expect((await startError(url)).message).toMatch(/does not publish pgpulse\.request_logs as one relation \(the table is not in it/);
      await adminQuery(url, restore);
      await adminQuery(url, `alter publication pgpulse_request_logs set (publish = 'update')`);
      expect((await startError(url)).message).toMatch(
        /publication "pgpulse_request_logs" does not publish inserts: ALTER PUBLICATION pgpulse_request_logs SET \(publish = 'insert'/,
      );
      await adminQuery(url, restore);
      // A column list (Postgres 15+) without tx_id and most columns.
      await adminQuery(url, `alter publication pgpulse_request_logs set table pgpulse.request_logs (id, request_id, path)`);
      expect((await startError(url)).message).toMatch(
        /publication "pgpulse_request_logs" leaves out columns of pgpulse\.request_logs \(method, route, .*tx_id.*\): ALTER PUBLICATION pgpulse_request_logs SET TABLE pgpulse\.request_logs \(no column list\)/,
      );
    } finally {
      await adminQuery(url, restore);
      await adminQuery(url, 'drop table if exists public.not_pgpulse');
    }
    // Restored: the listener starts.
    const listener = createListener({ transport: 'wal', connectionString: url });
    await listener.start();
    await listener.close();
  });

  it('exhausted replication slots are named (max_replication_slots)', async () => {
    const held = [`held_a`, `held_b`];
    for (const slot of held) await adminQuery(url, `select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    try {
      const error = await startError(url);
      expect(error.message).toMatch(/all replication slots are in use: raise max_replication_slots/);
    } finally {
      for (const slot of held) await adminQuery(url, 'select pg_drop_replication_slot($1)', [slot]);
    }
  });

  it('a temporary slot goes away with the listener', async () => {
    const listener = createListener({ transport: 'wal', connectionString: url });
    await listener.start();
    const slots = async () =>
      (await adminQuery(url, `select slot_name, temporary from pg_replication_slots where slot_name like 'pgpulse_listen_%'`)).rows as {
        temporary: boolean;
      }[];
    expect(await slots()).toEqual([expect.objectContaining({ temporary: true })]);
    await listener.close();
    // The walsender ends with the connection; its temporary slot with it.
    await eventually(async () => (await slots()).length === 0, 10_000, 'the temporary slot to be gone');
  });

  it.skipIf(!bouncerAvailable)('a URL through PgBouncer is refused with a message naming the pooler', async () => {
    const bouncer = await startPgBouncer(postgres.url);
    try {
      const error = await startError(bouncer.url(url));
      expect(error.message).toMatch(/pooler such as PgBouncer cannot carry one: point listenConnectionString/);
    } finally {
      await bouncer.close();
    }
  });
});

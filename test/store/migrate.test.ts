// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PulseDatabase } from '../../src/schema/database.js';
import { migrate, migrationsDir, pendingMigrations } from '../../src/store/migrate.js';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { MigrationLockError, UnknownMigrationError } from '../../src/store/migration-errors.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** A directory with the shipped migrations (or only `only` of them) plus `extra` files. */
async function withMigrations(extra: Record<string, string>, only?: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-mig-'));
  for (const name of only ?? (await readdir(migrationsDir)).filter((f) => f.endsWith('.sql'))) await copyFile(join(migrationsDir, name), join(dir, name));
  for (const [name, text] of Object.entries(extra)) await writeFile(join(dir, name), text);
  return dir;
}

function open(url: string): Kysely<PulseDatabase> {
  return new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
}

describe('migrate', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('is safe when several processes migrate at once, and idempotent', async () => {
    const dbs = Array.from({ length: 5 }, () => open(database.url));
    try {
      expect(await pendingMigrations(dbs[0]!)).toContain('0001_request_logs.sql');
      const results = await Promise.all(dbs.map((db) => migrate(db)));
      const appliedCounts = results.map((r) => r.applied.length);
      expect(appliedCounts.filter((n) => n > 0)).toHaveLength(1);
      expect(await pendingMigrations(dbs[0]!)).toEqual([]);
      const again = await migrate(dbs[0]!);
      expect(again.applied).toEqual([]);
      const table = await sql<{
        n: string;
      }>`select count(*) as n from information_schema.columns where table_schema = 'pgpulse' and table_name = 'request_logs'`.execute(dbs[0]!);
      expect(Number(table.rows[0]!.n)).toBeGreaterThanOrEqual(16);
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });

  it('reports a failing migration with a precise error, and what came before it stays applied', async () => {
    const db = open(database.url);
    const dir = await withMigrations({ '9999_bad.sql': 'select * from no_such_table;' });
    try {
      await expect(migrate(db, dir)).rejects.toThrow(/pgpulse migration 9999_bad\.sql failed: .*no_such_table/);
      expect(await pendingMigrations(db, dir)).toEqual(['9999_bad.sql']);
    } finally {
      await rm(dir, { recursive: true });
      await db.destroy();
    }
  });

  it('refuses a database with an applied migration it does not ship', async () => {
    const db = open(database.url);
    try {
      await migrate(db);
      await sql`insert into pgpulse.migrations (name) values ('0015_from_a_newer_pgpulse.sql')`.execute(db);
      const dir = await withMigrations({ '9998_pending.sql': 'create table pgpulse.should_not_exist (id int);' });
      try {
        const error = await migrate(db, dir).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(UnknownMigrationError);
        expect((error as UnknownMigrationError).unknown).toEqual(['0015_from_a_newer_pgpulse.sql']);
        expect((error as Error).message).toMatch(/0015_from_a_newer_pgpulse\.sql.*Nothing was applied/);
        const table = await sql<{ t: string | null }>`select to_regclass('pgpulse.should_not_exist')::text as t`.execute(db);
        expect(table.rows[0]!.t).toBeNull();
      } finally {
        await rm(dir, { recursive: true });
      }
    } finally {
      await sql`delete from pgpulse.migrations where name = '0015_from_a_newer_pgpulse.sql'`.execute(db);
      await db.destroy();
    }
  });
});

describe('migrate under locks', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    const db = open(database.url);
    await migrate(db).finally(() => db.destroy());
  });
  afterAll(async () => {
    await database.drop();
  });

  /** A session holding a lock on pgpulse.request_logs in an open transaction until `release()`. */
  async function holdReader(url: string): Promise<{ pid: number; release: () => Promise<void> }> {
    const client = new pg.Client({ connectionString: url, application_name: 'long-report' });
    await client.connect();
    await client.query('begin');
    await client.query('select count(*) from pgpulse.request_logs');
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    return {
      pid,
      release: async () => {
        await client.query('commit');
        await client.end();
      },
    };
  }

  const addColumn = { '9990_add_column.sql': 'alter table pgpulse.request_logs add column if not exists upgrade_probe text;' };

  it('gives up with a MigrationLockError naming the migration and the holder, having applied none of it', async () => {
    const db = open(database.url);
    const reader = await holdReader(database.url);
    const dir = await withMigrations(addColumn);
    const waits: number[] = [];
    try {
      const error = await migrate(db, { dir, lockTimeoutMs: 100, maxAttempts: 3, retryDelayMs: 10, onLockWait: (w) => waits.push(w.attempt) }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationLockError);
      const lock = error as MigrationLockError;
      expect(lock.migration).toBe('9990_add_column.sql');
      expect(lock.attempts).toBe(3);
      expect(lock.lockTimeoutMs).toBe(100);
      expect(lock.holder?.pid).toBe(reader.pid);
      expect(lock.message).toMatch(/9990_add_column\.sql could not take its locks: 3 tries of 100 ms.*held by pid \d+ \(idle in transaction/);
      expect(waits).toEqual([1, 2]);
      expect(await pendingMigrations(db, dir)).toEqual(['9990_add_column.sql']);
    } finally {
      await reader.release();
      await rm(dir, { recursive: true });
      await db.destroy();
    }
  });

  it('retries with backoff and applies the migration once the reader has ended; inserts never wait longer than the lock timeout', async () => {
    const db = open(database.url);
    const reader = await holdReader(database.url);
    const dir = await withMigrations(addColumn);
    const insertClient = new pg.Client({ connectionString: database.url });
    await insertClient.connect();
    try {
      let firstWait!: () => void;
      const waited = new Promise<void>((resolve) => (firstWait = resolve));
      const run = migrate(db, { dir, lockTimeoutMs: 200, retryDelayMs: 50, onLockWait: () => firstWait() });
      await waited;
      // An insert while the migration retries: it may queue behind one try, never behind the reader.
      const started = performance.now();
      await insertClient.query(
        `insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id) values ('r', 'GET', '/', 200, 1, 'desktop', 'n')`,
      );
      const insertMs = performance.now() - started;
      await reader.release();
      const result = await run;
      expect(result.applied).toEqual(['9990_add_column.sql']);
      expect(result.steps[0]!.attempts).toBeGreaterThan(1);
      console.log(`insert during the retries waited ${insertMs.toFixed(0)} ms (lock timeout 200 ms)`);
    } finally {
      await insertClient.end();
      await rm(dir, { recursive: true });
      await db.destroy();
    }
  });

  it('runs a migration marked no-transaction statement by statement (CREATE INDEX CONCURRENTLY)', async () => {
    const db = open(database.url);
    const dir = await withMigrations({
      ...addColumn,
      '9991_concurrent.sql': `-- pgpulse:no-transaction
-- an index built without blocking writers
create index concurrently if not exists upgrade_probe_idx on pgpulse.visitor_salts (salt);
create index concurrently if not exists upgrade_probe_2_idx on pgpulse.visitor_salts (day, salt); -- a second one
`,
    });
    try {
      const result = await migrate(db, dir);
      expect(result.applied.at(-1)).toBe('9991_concurrent.sql');
      const indexes = await sql<{ n: string }>`select count(*) as n from pg_indexes where indexname in ('upgrade_probe_idx', 'upgrade_probe_2_idx')`.execute(
        db,
      );
      expect(Number(indexes.rows[0]!.n)).toBe(2);
    } finally {
      await rm(dir, { recursive: true });
      await db.destroy();
    }
  });

  it('pgpulse migrate exits 5 with the message when the lock cannot be had, and lists the code in its help', async () => {
    // A database with 0001 only, so the CLI (which ships no probe migration) has 0002 to apply behind a reader.
    const fresh = await createTestDatabase();
    try {
      const db = open(fresh.url);
      const dir = await withMigrations({}, ['0001_request_logs.sql']);
      await migrate(db, dir).finally(async () => {
        await rm(dir, { recursive: true });
        await db.destroy();
      });
      const blocker = await holdReader(fresh.url);
      try {
        const result = await runCli(['migrate', '--lock-timeout', '100', '--max-attempts', '2'], { DATABASE_URL: fresh.url });
        expect(result.code).toBe(exitCodes.migrationLocked);
        expect(result.stderr).toMatch(/0002_partition_request_logs\.sql could not take its locks: 2 tries of 100 ms/);
        expect(result.stderr).toMatch(/held by pid \d+/);
      } finally {
        await blocker.release();
      }
    } finally {
      await fresh.drop();
    }
    const help = await runCli(['migrate', '--help']);
    expect(help.stdout).toMatch(/5 a migration could not take its locks/);
  });
});

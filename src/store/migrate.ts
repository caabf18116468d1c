import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from './database.js';

/** Directory holding the SQL migrations shipped with the package. */
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Advisory lock key (arbitrary constant) serialising concurrent migrators. */
const MIGRATION_LOCK_KEY = 7_286_112_001;

export interface MigrationResult {
  /** Names of the migrations this call applied, in order. */
  applied: string[];
  /** Names of all migrations known to the database after this call. */
  all: string[];
}

async function listMigrations(dir: string): Promise<{ name: string; sql: string }[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(files.map(async (name) => ({ name, sql: await readFile(join(dir, name), 'utf8') })));
}

/**
 * Applies pending migrations in one transaction, under a transaction-scoped
 * advisory lock so several nodes can migrate at once. Idempotent.
 */
export async function migrate(db: Kysely<PulseDatabase>, dir: string = migrationsDir): Promise<MigrationResult> {
  const migrations = await listMigrations(dir);
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::bigint)`.execute(trx);
      await sql`create schema if not exists pgpulse`.execute(trx);
      await sql`create table if not exists pgpulse.migrations (name text primary key, applied_at timestamptz not null default now())`.execute(trx);
      const done = new Set((await trx.selectFrom('pgpulse.migrations').select('name').execute()).map((r) => r.name));
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.name)) continue;
        await sql.raw(migration.sql).execute(trx);
        await trx.insertInto('pgpulse.migrations').values({ name: migration.name }).execute();
        applied.push(migration.name);
        done.add(migration.name);
      }
      return { applied, all: [...done].sort() };
    });
  } catch (error) {
    throw new Error(`pgpulse migration failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Names of migrations shipped with the package that the database has not applied yet. */
export async function pendingMigrations(db: Kysely<PulseDatabase>, dir: string = migrationsDir): Promise<string[]> {
  const migrations = await listMigrations(dir);
  const exists = await sql<{ ok: boolean }>`select to_regclass('pgpulse.migrations') is not null as ok`.execute(db);
  if (!exists.rows[0]?.ok) return migrations.map((m) => m.name);
  const done = new Set((await db.selectFrom('pgpulse.migrations').select('name').execute()).map((r) => r.name));
  return migrations.map((m) => m.name).filter((n) => !done.has(n));
}

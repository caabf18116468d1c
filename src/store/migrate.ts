import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { MigrationLockError, UnknownMigrationError, type MigrationLockHolder } from './migration-errors.js';
import { listMigrations, migrationsDir, splitStatements, type MigrationFile } from './migration-files.js';
import { errorMessage } from '../shared/describe-error.js';
import { z } from 'zod';
import { parseOptions, wholeNumber } from '../shared/option-schema.js';

export { migrationsDir } from './migration-files.js';

/** Advisory lock key (arbitrary constant) serialising concurrent migrators; the same key as every earlier release's runner. */
const MIGRATION_LOCK_KEY = 7_286_112_001;
/** How often a migrator waiting for another one's run retries the advisory lock, ms (polled, so it never sits in a lock queue). */
const MIGRATOR_POLL_MS = 200;
/** Backoff between tries never exceeds this, ms. */
const MAX_RETRY_DELAY_MS = 5_000;

export interface MigrateOptions {
  /** Directory of the migrations. Default: the ones shipped with the package. */
  dir?: string;
  /**
   * Longest wait for any one lock, ms (`lock_timeout` of each migration's
   * transaction). While a migration waits for a table lock, the app's inserts
   * and reads on that table queue behind it, so this bounds how long they can
   * stall. Default 500.
   */
  lockTimeoutMs?: number;
  /** Tries per migration before it gives up with a {@link MigrationLockError}. Default 20 (about 90 s in all). */
  maxAttempts?: number;
  /** Pause after the first timed-out try, ms; doubled after each (with jitter), up to 5,000. Default 250. */
  retryDelayMs?: number;
  /** Stops waiting (for the lock, between tries) when aborted; a migration in flight finishes. */
  signal?: AbortSignal;
  /** Called when a try timed out on a lock, before the pause. */
  onLockWait?: (info: { migration: string; attempt: number; retryInMs: number; holder: MigrationLockHolder | undefined }) => void;
  /** Called after each migration is committed. */
  onApplied?: (info: MigrationStep) => void;
}

export interface MigrationStep {
  /** The migration's file name. */
  name: string;
  /** Time it took, tries and pauses included, ms. */
  ms: number;
  /** Tries it took (1 when no lock wait timed out). */
  attempts: number;
}

export interface MigrationResult {
  /** Names of the migrations this call applied, in order. */
  applied: string[];
  /** Names of all migrations known to the database after this call. */
  all: string[];
  /** Each applied migration's time and tries, in order. */
  steps: MigrationStep[];
}

function isRetryable(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code === '55P03' || code === '40P01') return true; // lock_not_available, deadlock_detected
  }
  return false;
}

/** The oldest other transaction holding a lock on a pgpulse relation: what a timed-out migration most likely waited for. */
async function lockHolder(db: Kysely<PulseDatabase>): Promise<MigrationLockHolder | undefined> {
  try {
    const result = await sql<{ pid: number; query: string; state: string; ms: number }>`
      select a.pid, left(coalesce(a.query, ''), 200) as query, coalesce(a.state, '') as state,
             (extract(epoch from now() - a.xact_start) * 1000)::float8 as ms
      from pg_stat_activity a
      where a.pid <> pg_backend_pid() and a.xact_start is not null and exists (
        select 1 from pg_locks l join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
        where l.pid = a.pid and l.granted and n.nspname = 'pgpulse')
      order by a.xact_start limit 1`.execute(db);
    const row = result.rows[0];
    return row && { pid: row.pid, query: row.query, state: row.state, transactionMs: Math.round(row.ms) };
  } catch {
    return undefined; // pg_stat_activity is a courtesy; the error stands without it
  }
}

async function ensureMigrationsTable(db: Kysely<PulseDatabase>, lockTimeoutMs: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`.execute(trx);
    await sql`create schema if not exists pgpulse`.execute(trx);
    await sql`create table if not exists pgpulse.migrations (name text primary key, applied_at timestamptz not null default now())`.execute(trx);
  });
}

/** One try of one migration: in its own transaction, or statement by statement for a no-transaction one. */
async function applyOnce(db: Kysely<PulseDatabase>, migration: MigrationFile, lockTimeoutMs: number): Promise<void> {
  if (migration.transactional) {
    await db.transaction().execute(async (trx) => {
      await sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`.execute(trx);
      await sql.raw(migration.sql).execute(trx);
      await trx
        .insertInto('pgpulse.migrations')
        .values({ name: migration.name })
        .onConflict((oc) => oc.doNothing())
        .execute();
    });
    return;
  }
  await sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, false)`.execute(db);
  try {
    for (const statement of splitStatements(migration.sql)) await sql.raw(statement).execute(db);
    await db
      .insertInto('pgpulse.migrations')
      .values({ name: migration.name })
      .onConflict((oc) => oc.doNothing())
      .execute();
  } finally {
    await sql`select set_config('lock_timeout', '0', false)`.execute(db);
  }
}

async function applyWithRetry(db: Kysely<PulseDatabase>, migration: MigrationFile, options: MigrateOptions): Promise<MigrationStep> {
  const lockTimeoutMs = options.lockTimeoutMs ?? 500;
  const maxAttempts = options.maxAttempts ?? 20;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await applyOnce(db, migration, lockTimeoutMs);
      return { name: migration.name, ms: Date.now() - started, attempts: attempt };
    } catch (error) {
      if (!isRetryable(error)) throw new Error(`pgpulse migration ${migration.name} failed: ${errorMessage(error)}`, { cause: error });
      const holder = await lockHolder(db);
      if (attempt >= maxAttempts || options.signal?.aborted)
        throw new MigrationLockError(migration.name, attempt, lockTimeoutMs, Date.now() - started, holder, { cause: error });
      const base = Math.min((options.retryDelayMs ?? 250) * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
      const retryInMs = Math.round(base * (0.5 + Math.random() / 2));
      options.onLockWait?.({ migration: migration.name, attempt, retryInMs, holder });
      await sleep(retryInMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
}

async function takeMigratorLock(db: Kysely<PulseDatabase>, signal: AbortSignal | undefined): Promise<void> {
  for (;;) {
    const got = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}::bigint) as ok`.execute(db);
    if (got.rows[0]?.ok) return;
    signal?.throwIfAborted();
    await sleep(MIGRATOR_POLL_MS, undefined, { signal });
  }
}

/** The numeric options of {@link migrate}; their defaults are applied where they are used. */
const migrateOptionsSchema = z.object({
  lockTimeoutMs: wholeNumber(1).optional(),
  maxAttempts: wholeNumber(1).optional(),
  retryDelayMs: wholeNumber(0).optional(),
});

/**
 * Applies pending migrations, each in its own transaction (or statement by
 * statement, for those marked {@link noTransactionHeader}), so no migration
 * holds its locks longer than its own statements. Every lock is waited for at
 * most `lockTimeoutMs`; a migration that times out is rolled back and tried
 * again after a pause growing to 5 s, up to `maxAttempts` times, then fails
 * with a {@link MigrationLockError} naming what held the table. Refuses to run
 * when the database has applied a migration this version does not ship
 * ({@link UnknownMigrationError}). Several nodes may migrate at once: one
 * applies, the others wait for it (an advisory lock) and find nothing left.
 *
 * @example
 * ```ts
 * const { applied } = await migrate(db, { lockTimeoutMs: 500 });
 * ```
 */
export async function migrate(db: Kysely<PulseDatabase>, dirOrOptions: string | MigrateOptions = {}): Promise<MigrationResult> {
  const options = typeof dirOrOptions === 'string' ? { dir: dirOrOptions } : dirOrOptions;
  parseOptions('pgpulse migrate', migrateOptionsSchema, options);
  const migrations = await listMigrations(options.dir ?? migrationsDir);
  // One connection for the run: its session advisory lock keeps other migrators out between our transactions.
  return db.connection().execute(async (conn) => {
    await takeMigratorLock(conn, options.signal);
    try {
      await ensureMigrationsTable(conn, options.lockTimeoutMs ?? 500);
      const done = new Set((await conn.selectFrom('pgpulse.migrations').select('name').execute()).map((r) => r.name));
      const known = new Set(migrations.map((m) => m.name));
      const unknown = [...done].filter((name) => !known.has(name)).sort();
      if (unknown.length > 0) throw new UnknownMigrationError(unknown);
      const steps: MigrationStep[] = [];
      for (const migration of migrations) {
        if (done.has(migration.name)) continue;
        const step = await applyWithRetry(conn, migration, options);
        steps.push(step);
        done.add(migration.name);
        options.onApplied?.(step);
      }
      return { applied: steps.map((s) => s.name), all: [...done].sort(), steps };
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`.execute(conn);
    }
  });
}

/** Names of migrations shipped with the package that the database has not applied yet. */
export async function pendingMigrations(db: Kysely<PulseDatabase>, dir: string = migrationsDir): Promise<string[]> {
  const migrations = await listMigrations(dir);
  const exists = await sql<{ ok: boolean }>`select to_regclass('pgpulse.migrations') is not null as ok`.execute(db);
  if (!exists.rows[0]?.ok) return migrations.map((m) => m.name);
  const done = new Set((await db.selectFrom('pgpulse.migrations').select('name').execute()).map((r) => r.name));
  return migrations.map((m) => m.name).filter((n) => !done.has(n));
}

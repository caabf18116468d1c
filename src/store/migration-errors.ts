/** What held the lock a migration waited for, as pg_locks and pg_stat_activity showed it after the wait. */
export interface MigrationLockHolder {
  pid: number;
  /** The holder's current (or last) statement, first 200 characters. */
  query: string;
  /** `active`, `idle in transaction`... */
  state: string;
  /** How long its transaction has been open, ms. */
  transactionMs: number;
}

/**
 * A migration could not take its locks within `lockTimeoutMs`, `attempts`
 * times over: a long transaction (a report, an idle-in-transaction session)
 * holds the table. Nothing of that migration was applied (earlier ones were);
 * run `pgpulse migrate` again once the holder is gone. The CLI exits with
 * `exitCodes.migrationLocked` (5).
 */
export class MigrationLockError extends Error {
  override readonly name = 'MigrationLockError';
  constructor(
    /** The migration that could not be applied. */
    readonly migration: string,
    /** Tries made. */
    readonly attempts: number,
    /** The lock wait of each try, ms (`lock_timeout`). */
    readonly lockTimeoutMs: number,
    /** Time spent on this migration in all, retries and backoff included, ms. */
    readonly waitedMs: number,
    /** The oldest other transaction holding a lock on a pgpulse table, when it could be read. */
    readonly holder: MigrationLockHolder | undefined,
    options?: ErrorOptions,
  ) {
    const by = holder
      ? `; held by pid ${holder.pid} (${holder.state}, transaction open ${Math.round(holder.transactionMs / 1000)} s: ${JSON.stringify(holder.query)})`
      : '';
    super(
      `pgpulse migration ${migration} could not take its locks: ${attempts} tries of ${lockTimeoutMs} ms each over ${Math.round(waitedMs / 1000)} s${by}. ` +
        'Nothing of it was applied; run `pgpulse migrate` again when that transaction has ended.',
      options,
    );
  }
}

/**
 * The database has applied migrations this pgpulse does not ship (a newer
 * pgpulse migrated it, or another branch did): migrating it could apply ours
 * out of order, so nothing is done, as Kysely's Migrator refuses too.
 */
export class UnknownMigrationError extends Error {
  override readonly name = 'UnknownMigrationError';
  constructor(
    /** The applied migrations this version does not know. */
    readonly unknown: string[],
  ) {
    super(
      `pgpulse migrate: the database has migrations applied that this pgpulse does not know (${unknown.join(', ')}); ` +
        'it was migrated by a newer or different pgpulse. Nothing was applied: run the newer `pgpulse migrate`.',
    );
  }
}

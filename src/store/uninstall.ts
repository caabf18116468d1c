import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';

/** The publication `migrate` creates for the `wal` listener transport (migrations/0010_wal_publication.sql). */
export const WAL_PUBLICATION = 'pgpulse_request_logs';

/** What {@link uninstall} removed. */
export interface UninstallResult {
  /** Whether the `pgpulse` schema existed (and was dropped with everything in it). */
  schema: boolean;
  /** Whether the publication existed (and was dropped). */
  publication: boolean;
}

/**
 * Removes everything `migrate` created: the publication of the `wal`
 * transport, then the `pgpulse` schema with all its tables, views, functions
 * and data, in one transaction. Idempotent: on a database without pgpulse it
 * removes nothing. Fails (SQLSTATE 55P03) when a lock cannot be had within
 * 5 s: stop the apps writing to pgpulse first. The `wal` transport's replication slots are temporary
 * (they go with their listener's connection), so none is left.
 */
export async function uninstall(db: Kysely<PulseDatabase>): Promise<UninstallResult> {
  return db.transaction().execute(async (trx) => {
    // Behind a running app's inserts the drop waits for their locks: fail after 5 s rather than queue every insert behind it.
    await sql`set local lock_timeout = '5s'`.execute(trx);
    const found = await sql<{ schema: boolean; publication: boolean }>`
      select exists (select 1 from pg_namespace where nspname = 'pgpulse') as schema,
             exists (select 1 from pg_publication where pubname = ${WAL_PUBLICATION}) as publication`.execute(trx);
    const { schema, publication } = found.rows[0]!;
    if (publication) await sql`drop publication if exists ${sql.id(WAL_PUBLICATION)}`.execute(trx);
    if (schema) await sql`drop schema if exists pgpulse cascade`.execute(trx);
    return { schema, publication };
  });
}

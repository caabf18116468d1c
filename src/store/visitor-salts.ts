import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';

/**
 * The visitor salt of UTC `day` (`YYYY-MM-DD`) in `pgpulse.visitor_salts`,
 * shared by every node: `candidate` is stored unless another node stored one
 * first, then the stored one is read (a separate statement, so it sees a salt
 * another node committed concurrently). Undefined when none is there.
 */
export async function dayVisitorSalt(db: Kysely<PulseDatabase>, day: string, candidate: string): Promise<string | undefined> {
  await sql`insert into pgpulse.visitor_salts (day, salt) values (${day}::date, ${candidate}) on conflict (day) do nothing`.execute(db);
  const result = await sql<{ salt: string }>`select salt from pgpulse.visitor_salts where day = ${day}::date`.execute(db);
  return result.rows[0]?.salt;
}

/** Deletes the salts of days before the day before `day`: visitors cannot be followed across days. */
export async function deleteOldVisitorSalts(db: Kysely<PulseDatabase>, day: string): Promise<void> {
  await sql`delete from pgpulse.visitor_salts where day < ${day}::date - 1`.execute(db);
}

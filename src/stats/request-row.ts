import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { PulseDatabase } from '../store/database.js';
import { PUBLIC_ROW_SQL, toPublicRow, type PublicRow } from '../store/public-row.js';

/** Query of `GET /api/request`: `id`, a stored row's id (a positive int8). Unknown parameters are ignored. */
export const requestParamsSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,18}$/, 'must be a request row id (a positive integer)')
    // zod runs this check after a failed regex too: only digits reach BigInt.
    .refine((id) => !/^\d+$/.test(id) || BigInt(id) <= 9_223_372_036_854_775_807n, { error: 'must be at most 2^63 - 1' }),
});

/**
 * One stored request by its row id, as browsers see rows (every column but
 * the private ones), or undefined when there is none. The primary key
 * (`id`, `inserted_at`) finds it in each partition. Read-only, under a statement timeout.
 */
export async function requestRow(db: Kysely<PulseDatabase>, id: string, timeoutMs = 15_000): Promise<PublicRow | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    const result = await sql<Record<string, unknown>>`select ${PUBLIC_ROW_SQL} from pgpulse.request_logs where id = ${id}::bigint limit 1`.execute(trx);
    const row = result.rows[0];
    return row ? toPublicRow(row) : undefined;
  });
}

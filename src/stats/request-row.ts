import { sql, type Kysely, type RawBuilder } from 'kysely';
import { z } from 'zod';
import type { PulseDatabase } from '../schema/database.js';
import { PUBLIC_ROW_SQL, toPublicRow, type PublicRow } from '../schema/public-row.js';
import { instant } from './stats-params.js';

/** How far from `at` a lookup by request id reads rows (each side): the time index and partitions bound it, the table is never scanned. */
export const REQUEST_AT_WINDOW_MS = 60_000;

const rowId = z
  .string()
  .regex(/^[1-9]\d{0,18}$/, 'must be a request row id (a positive integer)')
  // zod runs this check after a failed regex too: only digits reach BigInt.
  .refine((id) => !/^\d+$/.test(id) || BigInt(id) <= 9_223_372_036_854_775_807n, { error: 'must be at most 2^63 - 1' });

/** Which stored request `GET /api/request` answers: by row id, or by request id near a time. */
export type RequestLookup = { id: string } | { requestId: string; at: Date };

/**
 * Query of `GET /api/request`: either `id`, a stored row's id (a positive
 * int8), or `requestId` (the stored `request_id`, 1–200 characters) with `at`
 * (an ISO date or epoch ms within {@link REQUEST_AT_WINDOW_MS} of the row's
 * `inserted_at`, as error examples give them). Unknown parameters are ignored.
 */
export const requestParamsSchema = z
  .object({ id: rowId.optional(), requestId: z.string().min(1).max(200).optional(), at: instant.optional() })
  .superRefine((q, ctx) => {
    const byId = q.id !== undefined;
    if (byId && (q.requestId !== undefined || q.at !== undefined))
      ctx.addIssue({ code: 'custom', path: [q.requestId !== undefined ? 'requestId' : 'at'], message: 'give either id, or requestId and at' });
    else if (!byId && q.requestId === undefined && q.at === undefined)
      ctx.addIssue({ code: 'custom', path: ['id'], message: 'required: id (a request row id), or requestId and at' });
    else if (!byId && q.requestId === undefined) ctx.addIssue({ code: 'custom', path: ['requestId'], message: 'required with at' });
    else if (!byId && q.at === undefined) ctx.addIssue({ code: 'custom', path: ['at'], message: 'required with requestId: the request time' });
  })
  .transform((q): RequestLookup => (q.id !== undefined ? { id: q.id } : { requestId: q.requestId!, at: q.at! }));

/**
 * The row of `requestId` whose `inserted_at` is nearest `at`, at most
 * {@link REQUEST_AT_WINDOW_MS} away (a request id may repeat: a client's own
 * header, a restarted counter). The time bounds prune the day partitions and
 * use the `inserted_at` index; `request_id` has no index of its own.
 */
export function requestAtQuery(requestId: string, at: Date): RawBuilder<Record<string, unknown>> {
  const lo = new Date(at.getTime() - REQUEST_AT_WINDOW_MS);
  const hi = new Date(at.getTime() + REQUEST_AT_WINDOW_MS);
  return sql<Record<string, unknown>>`select ${PUBLIC_ROW_SQL} from pgpulse.request_logs
    where inserted_at >= ${lo} and inserted_at <= ${hi} and request_id = ${requestId}
    order by abs(extract(epoch from inserted_at - ${at}::timestamptz)), id limit 1`;
}

/**
 * One stored request, by its row id or by request id and time (see
 * {@link requestAtQuery}), as browsers see rows (every column but the private
 * ones), or undefined when there is none. By id, the primary key (`id`,
 * `inserted_at`) finds it in each partition. Read-only, under a statement timeout.
 */
export async function requestRow(db: Kysely<PulseDatabase>, lookup: RequestLookup, timeoutMs = 15_000): Promise<PublicRow | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    const query =
      'id' in lookup
        ? sql<Record<string, unknown>>`select ${PUBLIC_ROW_SQL} from pgpulse.request_logs where id = ${lookup.id}::bigint limit 1`
        : requestAtQuery(lookup.requestId, lookup.at);
    const row = (await query.execute(trx)).rows[0];
    return row ? toPublicRow(row) : undefined;
  });
}

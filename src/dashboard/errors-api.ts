import type { ServerResponse } from 'node:http';
import { sql, type Kysely, type Transaction } from 'kysely';
import { errorDetailParamsSchema, errorsParamsSchema } from '../stats/error-params.js';
import { queryErrorDetail } from '../stats/error-detail.js';
import { queryErrors } from '../stats/error-stats.js';
import { parseQuery } from '../stats/stats-params.js';
import type { PulseDatabase } from '../schema/database.js';
import { sendJson } from './http-responses.js';
import { errorMessage } from '../shared/describe-error.js';

export interface ErrorsApiOptions {
  /** Statement timeout of the queries, ms. Default 15,000. */
  timeoutMs?: number;
  /** The dashboard's trace link template, sent with an error's detail. */
  traceUrl: string | null;
  /** Called when a query fails (the dashboard counts it and emits `queryError`). */
  failed(error: unknown): void;
}

/** Whether the dashboard's errors API answers `path`: `/api/errors` or `/api/errors/<fingerprint>`. */
export function isErrorsPath(path: string): boolean {
  return path === '/api/errors' || /^\/api\/errors\/[^/]*$/.test(path);
}

async function readOnly<T>(db: Kysely<PulseDatabase>, timeoutMs: number, run: (trx: Transaction<PulseDatabase>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    return run(trx);
  });
}

/**
 * `GET /api/errors?from&to&tz&since&limit&new` and the `/api/stats` filters:
 * the error groups of the range (`queryErrors`); `GET /api/errors/<fingerprint>`
 * (or `?fingerprint=`) with the same range, filters and `examples`: one
 * group's detail (`queryErrorDetail`), 404 when no group has it. Bad
 * parameters answer 400 with the issues; a failed query 503. Each runs in a
 * read-only transaction with the dashboard's statement timeout.
 */
export async function serveErrorsApi(
  db: Kysely<PulseDatabase>,
  path: string,
  search: URLSearchParams,
  res: ServerResponse,
  options: ErrorsApiOptions,
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const fingerprint = path === '/api/errors' ? search.get('fingerprint') : path.slice('/api/errors/'.length);
  let body: unknown;
  try {
    if (fingerprint === null) {
      const parsed = parseQuery(errorsParamsSchema, search);
      if (!parsed.ok) {
        sendJson(res, 400, { error: 'invalid errors query', issues: parsed.issues });
        return;
      }
      body = await readOnly(db, timeoutMs, (trx) => queryErrors(trx, parsed.params));
    } else {
      const query = new URLSearchParams(search);
      query.set('fingerprint', fingerprint);
      const parsed = parseQuery(errorDetailParamsSchema, query);
      if (!parsed.ok) {
        sendJson(res, 400, { error: 'invalid error query', issues: parsed.issues });
        return;
      }
      body = await readOnly(db, timeoutMs, (trx) => queryErrorDetail(trx, parsed.params, options.traceUrl));
      if (body === null) {
        sendJson(res, 404, { error: `no error group ${fingerprint}` });
        return;
      }
    }
  } catch (error) {
    options.failed(error);
    sendJson(res, 503, { error: `errors query failed: ${errorMessage(error)}` });
    return;
  }
  sendJson(res, 200, body);
}

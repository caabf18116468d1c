import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { queryEndpoint } from '../stats/endpoint-stats.js';
import { requestParamsSchema, requestRow } from '../stats/request-row.js';
import { parseQuery, parseStatsParams } from '../stats/stats-params.js';
import type { PulseDatabase } from '../schema/database.js';
import { sendJson } from './http-responses.js';
import { expandTraceUrl } from './trace-url.js';
import { errorMessage } from '../shared/describe-error.js';

/** Paths {@link serveViewsApi} answers. */
export const viewsApiPaths = ['/api/endpoint', '/api/request'] as const;
export type ViewsApiPath = (typeof viewsApiPaths)[number];

export interface ViewsApiContext {
  db: Kysely<PulseDatabase>;
  timeoutMs: number | undefined;
  /** The dashboard's `traceUrl` template, null for none. */
  traceUrl: string | null;
  /** Counts a failed query (the dashboard's `queryError`). */
  failed(error: unknown): void;
}

/**
 * The API of the endpoint page and the request detail view:
 * - `GET /api/endpoint?route=&from=&to=&tz=&…filters` (`queryEndpoint`: the
 *   route's series by exact status code with bytes, every code and the
 *   slowest recent requests; `route` required, the rest as `/api/stats`);
 * - `GET /api/request?id=` or `?requestId=&at=` (`requestRow`: one stored
 *   request by row id, or by request id within a minute of `at`; every public
 *   column, with `traceLink`, its trace's URL when `traceUrl` is set and the row has a trace id).
 * 400 listing the issues for bad parameters, 404 for an unknown request, 503 when the query fails.
 */
export async function serveViewsApi(context: ViewsApiContext, path: ViewsApiPath, search: URLSearchParams, res: ServerResponse): Promise<void> {
  let body: unknown;
  try {
    if (path === '/api/request') {
      const parsed = parseQuery(requestParamsSchema, search);
      if (!parsed.ok) {
        sendJson(res, 400, { error: 'invalid request query', issues: parsed.issues });
        return;
      }
      const lookup = parsed.params;
      const row = await requestRow(context.db, lookup, context.timeoutMs);
      if (!row) {
        const which = 'id' in lookup ? `id ${lookup.id}` : `request id ${lookup.requestId} near ${lookup.at.toISOString()}`;
        sendJson(res, 404, { error: `no stored request with ${which} (retention may have dropped it)` });
        return;
      }
      const traceId = typeof row.trace_id === 'string' ? row.trace_id : null;
      const spanId = typeof row.span_id === 'string' ? row.span_id : null;
      body = { row, traceLink: context.traceUrl && traceId ? expandTraceUrl(context.traceUrl, traceId, spanId) : null };
    } else {
      const parsed = parseStatsParams(search);
      if (!parsed.ok) {
        sendJson(res, 400, { error: 'invalid endpoint query', issues: parsed.issues });
        return;
      }
      const { route } = parsed.params;
      if (route === undefined || route === '') {
        sendJson(res, 400, { error: 'invalid endpoint query', issues: [{ path: 'route', message: 'required: the route pattern, e.g. /orders/:id' }] });
        return;
      }
      body = await queryEndpoint(context.db, { ...parsed.params, route }, { timeoutMs: context.timeoutMs });
    }
  } catch (error) {
    context.failed(error);
    sendJson(res, 503, { error: `${path === '/api/request' ? 'request' : 'endpoint'} query failed: ${errorMessage(error)}` });
    return;
  }
  sendJson(res, 200, body);
}

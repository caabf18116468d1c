import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { queryEndpoint } from '../stats/endpoint-stats.js';
import { parseStatsParams } from '../stats/stats-params.js';
import type { PulseDatabase } from '../store/database.js';
import { sendJson } from './http-responses.js';

/** Paths {@link serveViewsApi} answers. */
export const viewsApiPaths = ['/api/endpoint'] as const;
export type ViewsApiPath = (typeof viewsApiPaths)[number];

export interface ViewsApiContext {
  db: Kysely<PulseDatabase>;
  timeoutMs: number | undefined;
  /** Counts a failed query (the dashboard's `queryError`). */
  failed(error: unknown): void;
}

/**
 * The endpoint page's API: `GET /api/endpoint?route=&from=&to=&tz=&…filters`
 * (`queryEndpoint`: the route's series by exact status code with bytes, every
 * code and the slowest recent requests; `route` required, the rest as
 * `/api/stats`). 400 listing the issues for bad parameters, 503 when the query fails.
 */
export async function serveViewsApi(context: ViewsApiContext, _path: ViewsApiPath, search: URLSearchParams, res: ServerResponse): Promise<void> {
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
  let body: unknown;
  try {
    body = await queryEndpoint(context.db, { ...parsed.params, route }, { timeoutMs: context.timeoutMs });
  } catch (error) {
    context.failed(error);
    sendJson(res, 503, { error: `endpoint query failed: ${(error as Error).message}` });
    return;
  }
  sendJson(res, 200, body);
}

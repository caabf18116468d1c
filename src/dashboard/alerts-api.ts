import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { alertOverview } from '../alerts/alert-overview.js';
import { listReleases } from '../releases/release.js';
import type { PulseDatabase } from '../schema/database.js';
import { sendJson } from './http-responses.js';
import { errorMessage } from '../shared/describe-error.js';

const releasesQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});

/**
 * `GET /api/alerts` (rules, states, firing alerts, history: {@link alertOverview})
 * and `GET /api/releases?from=&to=` (releases first run in the range:
 * `listReleases`). Answers 503 when the query fails (e.g. not migrated).
 */
export async function serveAlertsApi(
  db: Kysely<PulseDatabase>,
  path: '/api/alerts' | '/api/releases',
  search: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  let body: unknown;
  try {
    if (path === '/api/alerts') body = await alertOverview(db);
    else {
      const parsed = releasesQuery.safeParse(Object.fromEntries(search));
      if (!parsed.success) {
        sendJson(res, 400, { error: 'invalid releases query', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
        return;
      }
      const { from, to } = parsed.data;
      body = { releases: await listReleases(db, { from: from ? new Date(from) : undefined, to: to ? new Date(to) : undefined }) };
    }
  } catch (error) {
    sendJson(res, 503, { error: `${path === '/api/alerts' ? 'alerts' : 'releases'} query failed: ${errorMessage(error)}` });
    return;
  }
  sendJson(res, 200, body);
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql, type Kysely } from 'kysely';
import type { PubSub } from '../pubsub.js';
import { SseHub, type SseHubOptions, type SseHubStats } from './sse-hub.js';
import { parseStatsParams } from './stats-params.js';
import { queryStats } from './stats-query.js';
import { staticAsset } from './static-assets.js';
import { presentedToken, TOKEN_COOKIE, tokensEqual } from './token-gate.js';

export interface DashboardOptions extends SseHubOptions {
  /** Where stats are read (for an app, `pulse.db`). */
  db: Kysely<any>;
  /** Source of live rows: the app's `pulse.pubsub`, or a bridge listener's. */
  pubsub: PubSub;
  /** When set, every route (page, API, stream) requires it. Default: no token. */
  token?: string;
  /** Path prefix stripped from URLs when the handler is not mounted by a router. Default ''. */
  basePath?: string;
}

export interface DashboardStats extends SseHubStats {
  /** Requests refused for a missing or wrong token. */
  unauthorized: number;
  /** Stats queries that failed. */
  queryErrors: number;
}

/** Node/Connect handler: works in node:http and mounted with `app.use('/pgpulse', dashboard.handler)`. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

export interface Dashboard extends AsyncDisposable {
  handler: DashboardHandler;
  readonly stats: DashboardStats;
  /** Ends live streams and unsubscribes. Idempotent. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
} as const;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

/** Newest rows for the live table's first paint. */
async function recentRows(db: Kysely<any>, limit: number): Promise<unknown[]> {
  const result = await sql<Record<string, unknown>>`
    select id, request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent, referer,
      device_type, visitor_id, session_id, node_id, inserted_at
    from pgpulse.request_logs order by inserted_at desc, id desc limit ${limit}`.execute(db);
  return result.rows.map((r) => ({ ...r, id: Number(r.id), response_bytes: r.response_bytes === null ? null : Number(r.response_bytes) }));
}

/** Creates the dashboard: page, `/api/stats`, `/api/recent` and the `/api/stream` of fresh rows. */
export function createDashboard(options: DashboardOptions): Dashboard {
  const hub = new SseHub(options.pubsub, options);
  const counters = { unauthorized: 0, queryErrors: 0 };
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  let closed = false;

  const route = async (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    let path = url.pathname;
    if (basePath && (path === basePath || path.startsWith(`${basePath}/`))) path = path.slice(basePath.length) || '/';
    const mountedAt = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/').split('?')[0]!;
    if (path === '/' && !mountedAt.endsWith('/')) {
      res.writeHead(308, { location: `${mountedAt}/${url.search}` }).end();
      return;
    }
    if (options.token !== undefined) {
      const given = presentedToken(req, url);
      if (given === undefined || !tokensEqual(given, options.token)) {
        counters.unauthorized++;
        res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer realm="pgpulse"', ...SECURITY_HEADERS });
        res.end('pgpulse dashboard: a valid token is required (open the page with ?token=…)');
        return;
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/api/stream') {
      const lastEventId = req.headers['last-event-id'];
      hub.attach(res, Array.isArray(lastEventId) ? lastEventId[0] : lastEventId);
      return;
    }
    if (path === '/api/stats') {
      const parsed = parseStatsParams(url.searchParams);
      if (!parsed.ok) return sendJson(res, 400, { error: 'invalid stats query', issues: parsed.issues });
      try {
        return sendJson(res, 200, await queryStats(options.db, parsed.params));
      } catch (error) {
        counters.queryErrors++;
        return sendJson(res, 503, { error: `stats query failed: ${(error as Error).message}` });
      }
    }
    if (path === '/api/recent') {
      const limit = Math.min(200, Math.max(1, Number(url.searchParams.get('limit') ?? 50) || 50));
      try {
        return sendJson(res, 200, { rows: await recentRows(options.db, limit) });
      } catch (error) {
        counters.queryErrors++;
        return sendJson(res, 503, { error: `recent rows query failed: ${(error as Error).message}` });
      }
    }
    const asset = await staticAsset(path);
    if (asset) {
      const headers: Record<string, string> = { 'content-type': asset.type, 'cache-control': path === '/' ? 'no-store' : 'max-age=300', ...SECURITY_HEADERS };
      const query = url.searchParams.get('token');
      if (path === '/' && options.token !== undefined && query) {
        headers['set-cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(query)}; HttpOnly; SameSite=Strict; Path=${mountedAt}`;
      }
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (next) return next();
    sendJson(res, 404, { error: `not found: ${path}` });
  };

  return {
    handler(req, res, next) {
      route(req, res, next).catch((error: unknown) => {
        counters.queryErrors++;
        if (!res.headersSent) sendJson(res, 500, { error: `dashboard error: ${(error as Error).message}` });
        else res.destroy();
      });
    },
    get stats() {
      return { ...hub.stats, ...counters };
    },
    async close() {
      if (closed) return;
      closed = true;
      hub.close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

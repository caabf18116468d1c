import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { PubSub } from '../pubsub.js';
import { SECURITY_HEADERS, sendJson, sendUnauthorized } from './http-responses.js';
import { recentLimit, recentRows } from './recent-rows.js';
import { cookiePath, requestTarget, trailingSlashLocation, type RequestTarget } from './request-target.js';
import { SseHub, type SseHubEvents, type SseHubOptions, type SseHubStats } from './sse-hub.js';
import { parseStatsParams } from './stats-params.js';
import { queryStats } from './stats-query.js';
import { staticAsset } from './static-assets.js';
import { presentedToken, TOKEN_COOKIE, tokensEqual } from './token-gate.js';

export interface DashboardOptions extends SseHubOptions {
  /** Where stats are read (for an app, `pulse.db`). */
  db: Kysely<any>;
  /** Source of live rows: the app's `pulse.pubsub`, or a bridge listener's. */
  pubsub: PubSub;
  /**
   * When set, every route (page, assets, API, stream) requires it, as
   * `Authorization: Bearer`, `?token=` or the cookie set when the page was
   * opened with `?token=`. Compared in constant time. Default: no token.
   */
  token?: string;
  /** Path prefix stripped from URLs when no router strips it (e.g. '/pgpulse' on a bare node:http server). Default ''. */
  basePath?: string;
  /** Longest a stats query may run before Postgres cancels it. Default 15,000 ms. */
  statsTimeoutMs?: number;
}

export interface DashboardStats extends SseHubStats {
  /** Requests refused for a missing or wrong token. */
  unauthorized: number;
  /** Stats or recent-rows queries that failed. */
  queryErrors: number;
}

/** Degraded-mode events of a dashboard. */
export interface DashboardEvents extends SseHubEvents {
  /** A stats or recent-rows query failed (the browser got a 503). */
  queryError: [info: { error: Error }];
}

/** Node/Connect handler: works in node:http and mounted with `app.use('/pgpulse', dashboard.handler)`. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

export interface Dashboard extends AsyncDisposable, Pick<EventEmitter<DashboardEvents>, 'on' | 'off' | 'once'> {
  /** Serves the page, `/api/stats`, `/api/recent` and `/api/stream`; other paths go to `next` (or 404). */
  readonly handler: DashboardHandler;
  readonly stats: DashboardStats;
  /** Ends live streams and unsubscribes. Idempotent. */
  close(): Promise<void>;
}

/** The dashboard: routes, token gate and the live stream hub. */
class DashboardApp extends EventEmitter<DashboardEvents> implements Dashboard {
  private readonly hub: SseHub;
  private readonly counters = { unauthorized: 0, queryErrors: 0 };
  private readonly basePath: string;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: DashboardOptions) {
    super();
    this.hub = new SseHub(options.pubsub, options);
    this.hub.on('slowClientDropped', (info) => this.listenerCount('slowClientDropped') > 0 && this.emit('slowClientDropped', info));
    this.hub.on('replayGap', (info) => this.listenerCount('replayGap') > 0 && this.emit('replayGap', info));
    this.basePath = (options.basePath ?? '').replace(/\/+$/, '');
  }

  readonly handler: DashboardHandler = (req, res, next) => {
    this.route(req, res, next).catch((error: unknown) => {
      this.queryFailed(error);
      if (!res.headersSent) sendJson(res, 500, { error: `pgpulse dashboard: ${(error as Error).message}` });
      else res.destroy();
    });
  };

  get stats(): DashboardStats {
    return { ...this.hub.stats, ...this.counters };
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.hub.close();
      this.closing = Promise.resolve();
    }
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async route(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> {
    const target = requestTarget(req, this.basePath);
    if (target.path === '/' && !target.requestedPath.endsWith('/')) {
      res.writeHead(308, { location: trailingSlashLocation(target) }).end();
      return;
    }
    if (!this.authorized(req, target)) {
      this.counters.unauthorized++;
      return sendUnauthorized(res);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (target.path) {
      case '/api/stream':
        return this.hub.attach(res, header(req, 'last-event-id'));
      case '/api/stats':
        return this.serveStats(res, target);
      case '/api/recent':
        return this.query(res, 'recent rows', async () => ({ rows: await recentRows(this.options.db, recentLimit(target.search.get('limit'))) }));
    }
    if (await this.serveAsset(req, res, target)) return;
    if (next) return next();
    sendJson(res, 404, { error: `pgpulse dashboard: no route ${req.method} ${target.path}` });
  }

  private authorized(req: IncomingMessage, target: RequestTarget): boolean {
    if (this.options.token === undefined) return true;
    const given = presentedToken(req, target.search);
    return given !== undefined && tokensEqual(given, this.options.token);
  }

  private serveStats(res: ServerResponse, target: RequestTarget): Promise<void> | void {
    const parsed = parseStatsParams(target.search);
    if (!parsed.ok) return sendJson(res, 400, { error: 'invalid stats query', issues: parsed.issues });
    return this.query(res, 'stats', () => queryStats(this.options.db, parsed.params, { timeoutMs: this.options.statsTimeoutMs }));
  }

  private async query(res: ServerResponse, what: string, run: () => Promise<unknown>): Promise<void> {
    try {
      sendJson(res, 200, await run());
    } catch (error) {
      this.queryFailed(error);
      sendJson(res, 503, { error: `${what} query failed: ${(error as Error).message}` });
    }
  }

  private queryFailed(error: unknown): void {
    this.counters.queryErrors++;
    if (this.listenerCount('queryError') > 0) this.emit('queryError', { error: error instanceof Error ? error : new Error(String(error)) });
  }

  private async serveAsset(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<boolean> {
    const asset = await staticAsset(target.path);
    if (!asset) return false;
    const headers: Record<string, string> = { 'content-type': asset.type, 'cache-control': target.path === '/' ? 'no-store' : 'max-age=300', ...SECURITY_HEADERS };
    const token = target.search.get('token');
    if (target.path === '/' && this.options.token !== undefined && token) {
      headers['set-cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=${cookiePath(target)}`;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Creates the dashboard: page, `/api/stats`, `/api/recent` and the `/api/stream` of fresh rows. */
export function createDashboard(options: DashboardOptions): Dashboard {
  return new DashboardApp(options);
}

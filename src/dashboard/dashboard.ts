import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsRegistry } from '../metrics/metrics-registry.js';
import { pgpulseMetrics } from '../metrics/pgpulse-metrics.js';
import { loadPromClient } from '../metrics/prom-client.js';
import type { PubSub } from '../pubsub.js';
import { SECURITY_HEADERS, sendJson, sendUnauthorized } from './http-responses.js';
import { recentLimit, recentRows } from '../store/recent-rows.js';
import { cookiePath, requestTarget, trailingSlashLocation, type RequestTarget } from './request-target.js';
import { SseHub, type SseHubEvents, type SseHubOptions, type SseHubStats } from './sse-hub.js';
import { parseStatsParams } from '../stats/stats-params.js';
import { queryStats } from '../stats/query-stats.js';
import { exportFormats, exportRows, type ExportFormat } from './export-rows.js';
import { staticAsset } from './static-assets.js';
import { skipCapture } from '../skip-capture.js';
import { FailureLimiter } from './failure-limiter.js';
import { isLoopbackAddress } from './loopback.js';
import { readForm } from './read-form.js';
import { cookieValue, presentedToken, SESSION_COOKIE, SESSION_TTL_MS, sessionValue, tokensEqual, validSession } from './token-gate.js';
import type { Kysely } from 'kysely';
import { asPulseDatabase } from '../store/connection.js';
import type { AnySchemaKysely, PulseDatabase } from '../store/database.js';
import { parseTraceUrl } from './trace-url.js';

export interface DashboardOptions extends SseHubOptions {
  /** Where stats are read (for an app, `pulse.db`). */
  db: AnySchemaKysely;
  /** Source of live rows: the app's `pulse.pubsub`, or a bridge listener's. */
  pubsub: PubSub;
  /**
   * When set, every route (page, assets, API, stream) requires it: API clients
   * send `Authorization: Bearer <token>`; the page asks for it once and keeps a
   * signed session in an `HttpOnly`, `SameSite=Strict` cookie. Never read from
   * the URL. Compared in constant time; a client with 10 failed attempts in a
   * minute gets 429 until the minute ends. Default: no token (a request from
   * another machine then prints a one-time warning).
   */
  token?: string;
  /** Path prefix stripped from URLs when no router strips it (e.g. '/pgpulse' on a bare node:http server). Default ''. */
  basePath?: string;
  /** Longest a stats query (or one FETCH of an export) may run before Postgres cancels it. Default 15,000 ms. */
  statsTimeoutMs?: number;
  /**
   * Referrer hosts that are the app itself, left out of the referrers list
   * (internal navigation is not a referral). The `Host` of each stats request
   * is always added: a mounted dashboard is served on the app's own host.
   * Default none besides that.
   */
  ownHosts?: readonly string[];
  /**
   * prom-client registry served at `GET /metrics` (behind the token, like every
   * route) and on which the dashboard's own metrics are registered. Pass
   * `pulse.registry` to serve the app's pgpulse metrics too. Default: a private
   * registry (dashboard metrics only).
   */
  registry?: MetricsRegistry;
  /**
   * Serves `GET /healthz` (200 when `ok`, else 503, JSON body; no token needed,
   * never recorded), e.g. `() => pulse.health()`. Default: no `/healthz` route.
   */
  health?: () => Promise<{ ok: boolean }>;
  /**
   * Links each row of the live table to its trace: an absolute http(s) URL
   * template in which `{trace_id}` (required) and `{span_id}` are replaced by
   * the row's ids, URL-encoded, e.g. `https://tempo.example/trace/{trace_id}`.
   * Checked when the dashboard is created (a TypeError says what is wrong).
   * Default: no links.
   */
  traceUrl?: string;
}

export interface DashboardStats extends SseHubStats {
  /** Requests refused for a missing or wrong token. */
  unauthorized: number;
  /** Requests refused because their client failed too often (429). */
  rateLimited: number;
  /** Stats or recent-rows queries that failed. */
  queryErrors: number;
}

/** Degraded-mode events of a dashboard. */
export interface DashboardEvents extends SseHubEvents {
  /** A stats or recent-rows query failed (the browser got a 503). */
  queryError: [info: { error: Error }];
  /** A stats (`what: 'stats'`) or recent-rows query answered, in `durationMs`. */
  query: [info: { what: 'stats' | 'recent'; durationMs: number }];
}

/** Node/Connect handler: works in node:http and mounted with `app.use('/pgpulse', dashboard.handler)`. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

export interface Dashboard extends AsyncDisposable, Pick<EventEmitter<DashboardEvents>, 'on' | 'off' | 'once'> {
  /** Serves the page, `/api/stats`, `/api/export`, `/api/recent` and `/api/stream`; other paths go to `next` (or 404). */
  readonly handler: DashboardHandler;
  readonly stats: DashboardStats;
  /** Registry served at `/metrics`; undefined when prom-client (an optional peer dependency) is not installed and none was passed. */
  readonly registry: MetricsRegistry | undefined;
  /** Ends live streams and unsubscribes. Idempotent. */
  close(): Promise<void>;
}

/** The dashboard: routes, token gate and the live stream hub. */
class DashboardApp extends EventEmitter<DashboardEvents> implements Dashboard {
  private readonly hub: SseHub;
  private readonly counters = { unauthorized: 0, rateLimited: 0, queryErrors: 0 };
  private readonly failures = new FailureLimiter();
  private warnedPublic = false;
  private readonly basePath: string;
  /** `options.db`, typed by pgpulse's tables. */
  private readonly db: Kysely<PulseDatabase>;
  private closing: Promise<void> | undefined;
  /** Undefined when prom-client (an optional peer dependency) is not installed and no registry was passed: `/metrics` then answers 501. */
  readonly registry: MetricsRegistry | undefined;
  private readonly removeMetrics: () => void;
  private readonly traceUrl: string | null;

  constructor(private readonly options: DashboardOptions) {
    super();
    this.traceUrl = options.traceUrl === undefined ? null : parseTraceUrl(options.traceUrl);
    const metrics = options.registry || loadPromClient() ? pgpulseMetrics(options.registry) : undefined;
    this.registry = metrics?.registry;
    this.removeMetrics = metrics?.addDashboard(this) ?? (() => undefined);
    this.hub = new SseHub(options.pubsub, options);
    this.hub.on('slowClientDropped', (info) => this.listenerCount('slowClientDropped') > 0 && this.emit('slowClientDropped', info));
    this.hub.on('replayGap', (info) => this.listenerCount('replayGap') > 0 && this.emit('replayGap', info));
    this.basePath = (options.basePath ?? '').replace(/\/+$/, '');
    this.db = asPulseDatabase(options.db);
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
      this.removeMetrics();
      this.closing = Promise.resolve();
    }
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async route(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> {
    const target = requestTarget(req, this.basePath);
    if (this.basePath && target.requestedPath !== this.basePath && !target.requestedPath.startsWith(`${this.basePath}/`)) {
      if (next) {
        next();
        return;
      }
      sendJson(res, 404, { error: `pgpulse dashboard: no route ${req.method} ${target.requestedPath} (the dashboard is under ${this.basePath}/)` });
      return;
    }
    if (target.path === '/' && !target.requestedPath.endsWith('/')) {
      skipCapture(req);
      res.writeHead(308, { location: trailingSlashLocation(target) }).end();
      return;
    }
    if (target.path === '/healthz' && this.options.health) {
      // Probes carry no token (the answer holds no traffic data) and are never recorded.
      skipCapture(req);
      await this.serveHealth(res);
      return;
    }
    if (next && !isDashboardPath(target.path)) {
      next();
      return;
    }
    skipCapture(req);
    if (this.options.token === undefined) this.warnIfPublic(req);
    else if (!(await this.gate(req, res, target))) return;
    if (req.method === 'POST' && target.path === '/api/logout') {
      this.logout(res, target);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (target.path) {
      case '/api/stream': {
        this.hub.attach(res, header(req, 'last-event-id'));
        return;
      }
      case '/api/stats':
        return this.serveStats(req, res, target);
      case '/api/export':
        return this.serveExport(req, res, target);
      case '/api/recent':
        // The page links rows to traces with `traceUrl` (null: no links).
        return this.query(res, 'recent', async () => ({
          rows: await recentRows(this.db, recentLimit(target.search.get('limit'))),
          traceUrl: this.traceUrl,
        }));
      case '/metrics':
        return this.serveMetrics(res);
    }
    if (await this.serveAsset(req, res, target)) return;
    sendJson(res, 404, { error: `pgpulse dashboard: no route ${req.method} ${target.path}` });
  }

  /** Answers unauthenticated requests (login form, 401, 429); true when the request may go on. */
  private async gate(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<boolean> {
    const token = this.options.token!;
    if (validSession(cookieValue(req.headers.cookie, SESSION_COOKIE), token)) return true;
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a destroyed request's socket may be gone
    const client = req.socket?.remoteAddress ?? 'unknown';
    const wait = this.failures.retryAfterMs(client);
    if (wait > 0) {
      this.counters.rateLimited++;
      res.writeHead(429, { 'retry-after': String(Math.ceil(wait / 1000)), 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end('pgpulse dashboard: too many failed token attempts; try again later');
      return false;
    }
    if (req.method === 'POST' && target.path === '/api/session') {
      await this.login(req, res, target, token, client);
      return false;
    }
    const bearer = presentedToken(req);
    if (bearer !== undefined && tokensEqual(bearer, token)) return true;
    if (bearer !== undefined) this.failures.fail(client);
    this.counters.unauthorized++;
    // The stylesheet is public so the login form is styled; it holds no data.
    if (target.path === '/style.css') return true;
    if (target.path === '/' && req.method === 'GET' && bearer === undefined) {
      await this.serveLogin(res, target.search.get('login') === 'failed');
      return false;
    }
    sendUnauthorized(res);
    return false;
  }

  /** `POST /api/session` with `token` (form or JSON): sets the session cookie; the form is redirected back to the page. */
  private async login(req: IncomingMessage, res: ServerResponse, target: RequestTarget, token: string, client: string): Promise<void> {
    const form = await readForm(req);
    const ok = form.token !== undefined && tokensEqual(form.token, token);
    const json = !(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    if (!ok) {
      this.failures.fail(client);
      this.counters.unauthorized++;
      if (json) {
        sendUnauthorized(res);
        return;
      }
      res.writeHead(303, { location: '../?login=failed', 'cache-control': 'no-store', ...SECURITY_HEADERS }).end();
      return;
    }
    const secure = (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? '; Secure' : '';
    const cookie = `${SESSION_COOKIE}=${sessionValue(token)}; HttpOnly; SameSite=Strict; Path=${sessionPath(target)}; Max-Age=${SESSION_TTL_MS / 1000}${secure}`;
    res.writeHead(json ? 204 : 303, { 'set-cookie': cookie, 'cache-control': 'no-store', ...(json ? {} : { location: '../' }), ...SECURITY_HEADERS }).end();
  }

  private logout(res: ServerResponse, target: RequestTarget): void {
    const cookie = `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=${sessionPath(target)}; Max-Age=0`;
    res.writeHead(303, { 'set-cookie': cookie, location: '../', 'cache-control': 'no-store', ...SECURITY_HEADERS }).end();
  }

  private async serveLogin(res: ServerResponse, failed: boolean): Promise<void> {
    const asset = (await staticAsset('/login.html'))!;
    const message = failed ? '<p class="error" role="alert">That token is not right.</p>' : '';
    res.writeHead(401, { 'content-type': asset.type, 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="pgpulse"', ...SECURITY_HEADERS });
    res.end(asset.body.toString('utf8').replace('<!--message-->', message));
  }

  /** A dashboard without a token answering another machine is public: say so once. */
  private warnIfPublic(req: IncomingMessage): void {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a destroyed request's socket may be gone
    if (this.warnedPublic || isLoopbackAddress(req.socket?.remoteAddress)) return;
    this.warnedPublic = true;
    process.emitWarning(
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a destroyed request's socket may be gone
      `pgpulse dashboard: serving ${req.socket?.remoteAddress ?? 'a remote client'} without a token; anyone who can reach it sees your traffic. Set the \`token\` option.`,
      { code: 'PGPULSE_DASHBOARD_PUBLIC' },
    );
  }

  private serveStats(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<void> | void {
    const parsed = parseStatsParams(target.search);
    if (!parsed.ok) return sendJson(res, 400, { error: 'invalid stats query', issues: parsed.issues });
    const ownHosts = [...(this.options.ownHosts ?? []), ...(req.headers.host ? [req.headers.host] : [])];
    return this.query(res, 'stats', () => queryStats(this.db, parsed.params, { timeoutMs: this.options.statsTimeoutMs, ownHosts }));
  }

  private async serveExport(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<void> {
    const format = target.search.get('format') ?? 'csv';
    if (!(exportFormats as readonly string[]).includes(format)) {
      sendJson(res, 400, { error: 'invalid export query', issues: [{ path: 'format', message: 'must be csv or ndjson' }] });
      return;
    }
    const parsed = parseStatsParams(target.search);
    if (!parsed.ok) {
      sendJson(res, 400, { error: 'invalid export query', issues: parsed.issues });
      return;
    }
    const stamp = (d: Date) => d.toISOString().replace(/[:.]/g, '-');
    res.writeHead(200, {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="pgpulse-${stamp(parsed.params.from)}--${stamp(parsed.params.to)}.${format}"`,
      'cache-control': 'no-store',
      ...SECURITY_HEADERS,
    });
    if (req.method === 'HEAD') return void res.end();
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    try {
      await exportRows(this.db, parsed.params, format as ExportFormat, res, { timeoutMs: this.options.statsTimeoutMs ?? 15_000, signal: abort.signal });
      res.end();
    } catch (error) {
      // Headers are gone: cut the response so the client sees an incomplete download, not a short file.
      this.queryFailed(error);
      res.destroy(error as Error);
    }
  }

  private async query(res: ServerResponse, what: 'stats' | 'recent', run: () => Promise<unknown>): Promise<void> {
    const started = performance.now();
    let body: unknown;
    try {
      body = await run();
    } catch (error) {
      this.queryFailed(error);
      sendJson(res, 503, { error: `${what === 'stats' ? 'stats' : 'recent rows'} query failed: ${(error as Error).message}` });
      return;
    }
    if (this.listenerCount('query') > 0) this.emit('query', { what, durationMs: performance.now() - started });
    sendJson(res, 200, body);
  }

  private async serveMetrics(res: ServerResponse): Promise<void> {
    if (!this.registry) {
      sendJson(res, 501, { error: 'metrics need prom-client, an optional peer dependency: npm i prom-client' });
      return;
    }
    const text = await this.registry.metrics();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store', ...SECURITY_HEADERS });
    res.end(text);
  }

  private async serveHealth(res: ServerResponse): Promise<void> {
    let report: { ok: boolean };
    try {
      report = await this.options.health!();
    } catch (error) {
      report = { ok: false, error: (error as Error).message } as { ok: boolean };
    }
    sendJson(res, report.ok ? 200 : 503, report);
  }

  private queryFailed(error: unknown): void {
    this.counters.queryErrors++;
    if (this.listenerCount('queryError') > 0) this.emit('queryError', { error: error instanceof Error ? error : new Error(String(error)) });
  }

  private async serveAsset(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<boolean> {
    if (target.path === '/login.html') return false;
    const asset = await staticAsset(target.path);
    if (!asset) return false;
    const headers: Record<string, string> = {
      'content-type': asset.type,
      'cache-control': target.path === '/' ? 'no-store' : 'max-age=300',
      ...SECURITY_HEADERS,
    };
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}

/** Paths the dashboard answers; anything else goes to `next` untouched (and is recorded as usual). */
function isDashboardPath(path: string): boolean {
  return path === '/' || path === '/metrics' || path.startsWith('/api/') || path.startsWith('/vendor/') || /^\/[\w.-]+\.(?:js|css|html)$/.test(path);
}

/** Cookie path of the mount point (the page's directory), from a path inside the dashboard. */
function sessionPath(target: RequestTarget): string {
  const inside = target.path === '/' ? '' : target.path;
  const mount = target.requestedPath.endsWith(inside) ? target.requestedPath.slice(0, target.requestedPath.length - inside.length) : '/';
  return cookiePath({ ...target, requestedPath: mount.endsWith('/') ? mount : `${mount}/` });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Creates the dashboard: page, `/api/stats`, `/api/recent` and the `/api/stream` of fresh rows. */
export function createDashboard(options: DashboardOptions): Dashboard {
  return new DashboardApp(options);
}

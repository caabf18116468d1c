import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsRegistry } from '../metrics/metrics-registry.js';
import { pgpulseMetrics } from '../metrics/pgpulse-metrics.js';
import { loadPromClient } from '../metrics/prom-client.js';
import type { PubSub } from '../pubsub.js';
import { SECURITY_HEADERS, sendClosing, sendJson } from './http-responses.js';
import { recentRows } from '../stats/recent-rows.js';
import { requestTarget, trailingSlashLocation, type RequestTarget } from './request-target.js';
import { SseHub, type SseHubEvents, type SseHubOptions, type SseHubStats } from './sse-hub.js';
import { liveParamsSchema, parseQuery, parseStatsParams } from '../stats/stats-params.js';
import { queryStats } from '../stats/query-stats.js';
import { queryAttributeStats } from '../stats/attribute-stats.js';
import { exportFormats, exportRows, type ExportFormat } from './export-rows.js';
import { staticAsset } from './static-assets.js';
import { skipCapture } from '../skip-capture.js';
import { AccessGate } from './access-gate.js';
import type { TrustProxy } from '../capture/trust-proxy.js';
import type { Kysely } from 'kysely';
import { asPulseDatabase } from '../store/connection.js';
import type { AnySchemaKysely, PulseDatabase } from '../schema/database.js';
import { parseTraceUrl } from './trace-url.js';
import { serveAlertsApi } from './alerts-api.js';
import { serveViewsApi } from './views-api.js';
import { watchAlerts } from './alert-watch.js';
import { nonNegativeNumber, parseOption } from '../shared/option-schema.js';
import { isErrorsPath, serveErrorsApi } from './errors-api.js';
import { errorMessage } from '../shared/describe-error.js';

export interface DashboardOptions extends SseHubOptions {
  /** Where stats are read (for an app, `pulse.db`). */
  db: AnySchemaKysely;
  /** Source of live rows: the app's `pulse.pubsub`, or a bridge listener's. */
  pubsub: PubSub;
  /**
   * When set, every route (page, assets, API, stream) requires it: API clients
   * send `Authorization: Bearer <token>`; the page asks for it once and keeps a
   * signed session in an `HttpOnly`, `SameSite=Strict` cookie. Never read from
   * the URL. Compared in constant time. The right token is always accepted;
   * a client address (as `trustProxy` resolves it) with 10 wrong ones in a
   * minute gets 429 for its wrong ones until the minute ends. Logins and
   * logouts sent by other sites (`Sec-Fetch-Site`, `Origin`) get 403.
   * Default: no token, and then only this machine is served (see `public`).
   */
  token?: string;
  /**
   * Without a `token`, serve clients on other machines too. Default false:
   * a tokenless dashboard answers loopback clients that reach it as
   * `localhost`/127.0.0.1 only (a request a local proxy forwarded from
   * elsewhere does not count), and everyone else gets a 403 naming the
   * `token` option. Ignored when a token is set.
   */
  public?: boolean;
  /**
   * Which proxies may tell the dashboard the client's address
   * (`X-Forwarded-For`, the key of the wrong-token throttle) and scheme
   * (`X-Forwarded-Proto`, for the `Secure` cookie), with the values of the
   * capture option `trustProxy` (Express's `trust proxy`). Default: the
   * framework's own view when mounted in Express (`req.ip`, `req.secure`) or
   * Fastify (`request.ip`, `request.protocol`), else no proxy (the socket peer).
   */
  trustProxy?: TrustProxy;
  /**
   * Always mark the session cookie `Secure`. Default false: it is `Secure`
   * when the request came over TLS, here or (through a trusted proxy) as
   * `X-Forwarded-Proto: https`.
   */
  secureCookies?: boolean;
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
  /**
   * How often, while a page is connected to the live stream, the dashboard
   * checks `pgpulse.alert_events` for a new transition (fired or resolved, by
   * whichever process evaluates the rules) and pushes it to the pages, which
   * then redraw their alerts at once. 0 turns the push off (pages still
   * reload alerts every 10 s). Default 2,000 ms.
   */
  alertsWatchMs?: number;
}

export interface DashboardStats extends SseHubStats {
  /** Requests refused for a missing or wrong token. */
  unauthorized: number;
  /** Wrong-token requests refused because their client sent too many (429). */
  rateLimited: number;
  /** Requests refused with 403: a tokenless dashboard asked by another machine, or a cross-site login or logout. */
  forbidden: number;
  /** Stats or recent-rows queries that failed. */
  queryErrors: number;
  /** Checks for new alert transitions that failed (see `alertsWatchMs`). */
  alertWatchErrors: number;
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
  /** Serves the page, `/api/stats`, `/api/attributes`, `/api/export`, `/api/recent`, `/api/errors` and `/api/stream`; other paths go to `next` (or 404). */
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
  private readonly counters = { queryErrors: 0, alertWatchErrors: 0 };
  private readonly access: AccessGate;
  private readonly basePath: string;
  /** `options.db`, typed by pgpulse's tables. */
  private readonly db: Kysely<PulseDatabase>;
  private closing: Promise<void> | undefined;
  /** Undefined when prom-client (an optional peer dependency) is not installed and no registry was passed: `/metrics` then answers 501. */
  readonly registry: MetricsRegistry | undefined;
  private readonly removeMetrics: () => void;
  private readonly traceUrl: string | null;
  private readonly stopAlertWatch: () => void;

  constructor(private readonly options: DashboardOptions) {
    super();
    this.traceUrl = options.traceUrl === undefined ? null : parseTraceUrl(options.traceUrl);
    const alertsWatchMs = parseOption('pgpulse dashboard', 'alertsWatchMs', nonNegativeNumber, options.alertsWatchMs ?? 2_000);
    const metrics = options.registry || loadPromClient() ? pgpulseMetrics(options.registry) : undefined;
    this.registry = metrics?.registry;
    this.removeMetrics = metrics?.addDashboard(this) ?? (() => undefined);
    this.hub = new SseHub(options.pubsub, options);
    this.hub.on('slowClientDropped', (info) => this.listenerCount('slowClientDropped') > 0 && this.emit('slowClientDropped', info));
    this.hub.on('replayGap', (info) => this.listenerCount('replayGap') > 0 && this.emit('replayGap', info));
    this.basePath = (options.basePath ?? '').replace(/\/+$/, '');
    this.db = asPulseDatabase(options.db);
    this.access = new AccessGate(options);
    this.stopAlertWatch = alertsWatchMs > 0 ? watchAlerts(this.db, this.hub, alertsWatchMs, this.counters) : () => undefined;
  }

  readonly handler: DashboardHandler = (req, res, next) => {
    this.route(req, res, next).catch((error: unknown) => {
      this.queryFailed(error);
      if (!res.headersSent) sendJson(res, 500, { error: `pgpulse dashboard: ${errorMessage(error)}` });
      else res.destroy();
    });
  };

  get stats(): DashboardStats {
    return { ...this.hub.stats, ...this.access.counters, ...this.counters };
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.stopAlertWatch();
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
    if (this.closing && (target.path === '/healthz' || isDashboardPath(target.path))) {
      // Shutting down: a clear answer (load balancers and browsers retry elsewhere), never a hang.
      skipCapture(req);
      sendClosing(res);
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
    if (!(await this.access.admit(req, res, target))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (target.path) {
      case '/api/stream': {
        // The rows matching the filters of the query (those of /api/stats), or every row.
        const live = parseQuery(liveParamsSchema, target.search);
        if (!live.ok) {
          sendJson(res, 400, { error: 'invalid stream query', issues: live.issues });
          return;
        }
        this.hub.attach(res, header(req, 'last-event-id'), live.params);
        return;
      }
      case '/api/stats':
        return this.serveStats(req, res, target);
      case '/api/attributes':
        return this.serveAttributes(res, target);
      case '/api/export':
        return this.serveExport(req, res, target);
      case '/api/recent': {
        // The newest rows matching the filters. The page links rows to traces with `traceUrl` (null: no links).
        const live = parseQuery(liveParamsSchema, target.search);
        if (!live.ok) {
          sendJson(res, 400, { error: 'invalid recent query', issues: live.issues });
          return;
        }
        return this.query(res, 'recent', async () => ({
          rows: await recentRows(this.db, live.params, this.options.statsTimeoutMs),
          traceUrl: this.traceUrl,
        }));
      }
      case '/metrics':
        return this.serveMetrics(res);
      case '/api/alerts':
      case '/api/releases':
        return serveAlertsApi(this.db, target.path, target.search, res);
      case '/api/endpoint':
      case '/api/request':
        return serveViewsApi(
          { db: this.db, timeoutMs: this.options.statsTimeoutMs, traceUrl: this.traceUrl, failed: (error) => this.queryFailed(error) },
          target.path,
          target.search,
          res,
        );
    }
    if (isErrorsPath(target.path)) {
      const options = { timeoutMs: this.options.statsTimeoutMs, traceUrl: this.traceUrl, failed: (error: unknown) => this.queryFailed(error) };
      return serveErrorsApi(this.db, target.path, target.search, res, options);
    }
    if (await this.serveAsset(req, res, target)) return;
    sendJson(res, 404, { error: `pgpulse dashboard: no route ${req.method} ${target.path}` });
  }

  private serveStats(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<void> | void {
    const parsed = parseStatsParams(target.search);
    if (!parsed.ok) return sendJson(res, 400, { error: 'invalid stats query', issues: parsed.issues });
    const ownHosts = [...(this.options.ownHosts ?? []), ...(req.headers.host ? [req.headers.host] : [])];
    return this.query(res, 'stats', () => queryStats(this.db, parsed.params, { timeoutMs: this.options.statsTimeoutMs, ownHosts }));
  }

  /** The custom attribute keys of the range and the values of one (`attributeKey`), under the filters of `/api/stats`. */
  private serveAttributes(res: ServerResponse, target: RequestTarget): Promise<void> | void {
    const parsed = parseStatsParams(target.search);
    if (!parsed.ok) return sendJson(res, 400, { error: 'invalid attributes query', issues: parsed.issues });
    return this.query(res, 'stats', () => queryAttributeStats(this.db, parsed.params, this.options.statsTimeoutMs));
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
      sendJson(res, 503, { error: `${what === 'stats' ? 'stats' : 'recent rows'} query failed: ${errorMessage(error)}` });
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
      report = { ok: false, error: errorMessage(error) } as { ok: boolean };
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

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Creates the dashboard: page, `/api/stats`, `/api/recent` and the `/api/stream` of fresh rows. */
export function createDashboard(options: DashboardOptions): Dashboard {
  return new DashboardApp(options);
}

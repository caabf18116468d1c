import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistry } from '../metrics/metrics-registry.js';
import { SECURITY_HEADERS, sendJson, sendUnauthorized } from './http-responses.js';
import { presentedToken, tokensEqual } from './token-gate.js';
import { errorMessage } from '../shared/describe-error.js';

export interface MetricsServerOptions {
  /** Registry to serve, e.g. `pulse.registry`. */
  registry: MetricsRegistry;
  /** Interface to bind. Default '127.0.0.1'. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 9464 (the usual Prometheus exporter port). */
  port?: number;
  /** When set, `/metrics` requires `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials: … }`). Default: no token. */
  token?: string;
  /** Serves `GET /healthz` (200 or 503, JSON; no token), e.g. `() => pulse.health()`. Default: none. */
  health?: () => Promise<{ ok: boolean }>;
}

export interface MetricsServer extends AsyncDisposable {
  /** Where the metrics are, e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  server: Server;
  /** Stops the server. Idempotent. */
  close(): Promise<void>;
}

/** Serves `GET /metrics` (and optionally `/healthz`) on a port of its own, without the dashboard. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 9464;
  const server = createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: `pgpulse metrics: ${errorMessage(error)}` });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(`pgpulse metrics: cannot listen on ${host}:${port} (${error.code ?? error.message})`, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`, server, close, [Symbol.asyncDispose]: close };
}

async function handle(options: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (url.pathname === '/healthz' && options.health) {
    const report = await options.health().catch((error: unknown) => ({ ok: false, error: errorMessage(error) }));
    sendJson(res, report.ok ? 200 : 503, report);
    return;
  }
  if (url.pathname !== '/metrics') {
    sendJson(res, 404, { error: `pgpulse metrics: no route ${url.pathname} (metrics are at /metrics)` });
    return;
  }
  if (options.token !== undefined) {
    const given = presentedToken(req);
    if (given === undefined || !tokensEqual(given, options.token)) {
      sendUnauthorized(res);
      return;
    }
  }
  const text = await options.registry.metrics();
  res.writeHead(200, { 'content-type': options.registry.contentType, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : text);
}

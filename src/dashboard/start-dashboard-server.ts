import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createDashboard, type Dashboard, type DashboardOptions } from './dashboard.js';

export interface DashboardServerOptions extends DashboardOptions {
  /** Interface to bind. Default '127.0.0.1' (local only); use '0.0.0.0' deliberately, with a token. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 4000. */
  port?: number;
  /**
   * Serve HTTPS with this certificate and private key (PEM text or buffers,
   * e.g. `readFileSync('cert.pem')`); the session cookie is then `Secure`.
   * Default: plain HTTP (put a TLS-terminating proxy in front, see the README).
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** On `close()`, longest wait for requests in progress (an export download) before their connections are cut, in ms. Default 5,000. */
  closeTimeoutMs?: number;
}

export interface DashboardServer extends AsyncDisposable {
  /** Where the page is, e.g. `http://127.0.0.1:4000/` (with `basePath`: `http://127.0.0.1:4000/pgpulse/`; with `tls`: `https://…`). */
  url: string;
  server: Server;
  dashboard: Dashboard;
  /**
   * Stops the server. Idempotent. Streams end at once; a request that still
   * reaches it (on a kept-alive connection) gets a 503; requests in progress
   * get `closeTimeoutMs` to finish.
   */
  close(): Promise<void>;
}

/**
 * Starts a standalone HTTP (or, with `tls`, HTTPS) server serving the dashboard.
 *
 * @example
 * const server = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: process.env.PGPULSE_TOKEN, port: 4000 });
 * console.log(server.url);
 */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const dashboard = createDashboard(options);
  const handler = (req: IncomingMessage, res: ServerResponse) => dashboard.handler(req, res);
  const server: Server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createServer(handler);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(`pgpulse dashboard: cannot listen on ${host}:${options.port ?? 4000} (${error.code ?? error.message})`, { cause: error }));
    });
    server.listen(options.port ?? 4000, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // From here every request gets a 503 and its connection closes; streams end now.
      await dashboard.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), options.closeTimeoutMs ?? 5_000);
      timer.unref();
      await closed;
      clearTimeout(timer);
    })());
  const path = `${(options.basePath ?? '').replace(/\/+$/, '')}/`;
  const scheme = options.tls ? 'https' : 'http';
  return { url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`, server, dashboard, close, [Symbol.asyncDispose]: close };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDashboard, type Dashboard, type DashboardOptions } from './dashboard.js';

export interface DashboardServerOptions extends DashboardOptions {
  /** Interface to bind. Default '127.0.0.1' (local only); use '0.0.0.0' deliberately, with a token. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 4000. */
  port?: number;
}

export interface DashboardServer extends AsyncDisposable {
  /** Where the page is, e.g. `http://127.0.0.1:4000/` (with `basePath`: `http://127.0.0.1:4000/pgpulse/`). */
  url: string;
  server: Server;
  dashboard: Dashboard;
  /** Ends streams and stops the server. Idempotent. */
  close(): Promise<void>;
}

/** Starts a standalone HTTP server serving the dashboard. */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const dashboard = createDashboard(options);
  const server = createServer(dashboard.handler);
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
      await dashboard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  const path = `${(options.basePath ?? '').replace(/\/+$/, '')}/`;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`, server, dashboard, close, [Symbol.asyncDispose]: close };
}

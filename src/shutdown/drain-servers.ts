/**
 * Closing the app's HTTP servers before the pulse (see `closeOnSignals`), so
 * every request they answer is recorded before the last flush.
 */
/** What pgpulse uses of a node:http, node:https or node:http2 server (`closeIdleConnections`/`closeAllConnections` where it has them). */
export interface NodeServer {
  close(callback?: (error?: Error) => void): unknown;
  closeIdleConnections?(): void;
  closeAllConnections?(): void;
}

/**
 * A server to close before the pulse: a node:http, node:https or node:http2
 * server (what Express's `app.listen()` and `@hono/node-server`'s `serve()`
 * return), or an app that closes its own server and exposes it as `server`
 * (a Fastify instance: its `close()` also runs its `onClose` hooks).
 */
export type DrainableServer = NodeServer | { readonly server: NodeServer; close(): unknown };

function isApp(target: DrainableServer): target is { readonly server: NodeServer; close(): unknown } {
  const server = (target as { server?: unknown }).server;
  return typeof server === 'object' && server !== null && typeof (server as NodeServer).close === 'function';
}

/**
 * Stops every server from accepting connections, closes its idle keep-alive
 * connections at once (a busy one closes after the response in flight) and
 * resolves once all connections are gone. Connections still open after
 * `timeoutMs` (a long poll, a stream) are closed by force. Never rejects.
 */
export async function drainServers(servers: readonly DrainableServer[], timeoutMs: number): Promise<void> {
  await Promise.all(servers.map((target) => drainServer(target, timeoutMs)));
}

async function drainServer(target: DrainableServer, timeoutMs: number): Promise<void> {
  const app = isApp(target) ? target : undefined;
  const server = app ? app.server : (target as NodeServer);
  const closed = app
    ? Promise.resolve()
        .then(() => app.close())
        .then(
          () => undefined,
          () => undefined,
        )
    : new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections?.();
  const force = setTimeout(() => server.closeAllConnections?.(), timeoutMs);
  force.unref();
  try {
    await closed;
  } finally {
    clearTimeout(force);
  }
}

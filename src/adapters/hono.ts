import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { FrameworkReader } from '../capture/node-middleware.js';
import type { Pulse } from '../create-pulse.js';
import { captureSkipped } from '../skip-capture.js';

type GetConnInfo = (c: Context) => { remote: { address?: string } };

/**
 * `getConnInfo` of `@hono/node-server` (an optional peer dependency), when
 * installed. Loaded synchronously (no top-level await, so `require()` of this
 * module keeps working).
 */
const nodeConnInfo: GetConnInfo | undefined = (() => {
  try {
    return (createRequire(import.meta.url)('@hono/node-server/conninfo') as { getConnInfo: GetConnInfo }).getConnInfo;
  } catch {
    return undefined;
  }
})();

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

/**
 * Route pattern of the handler that answered (`hono/route`), or null when only
 * middleware ran (an `app.use` pattern such as `*`, i.e. a 404).
 */
function handlerRoute(c: Context): string | null {
  const route = matchedRoutes(c).at(c.req.routeIndex);
  if (!route) return null;
  if (route.method === 'ALL' && route.path.includes('*')) return null;
  return route.path;
}

function requestIdOf(c: Context): string | undefined {
  const id = (c.var as Record<string, unknown>).requestId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** Read in the capture batch: the matched route and Hono's `requestId` variable (`hono/request-id`). */
const honoReader: FrameworkReader<Context> = {
  route: handlerRoute,
  requestId: requestIdOf,
};

/**
 * Hono middleware (`createMiddleware`) capturing every request with the
 * matched route pattern (`hono/route`) and Hono's `requestId` variable. On
 * `@hono/node-server` the response is measured at the node:http level, so rows
 * match the other adapters exactly (bytes sent, client aborts as 499), and the
 * client address is `getConnInfo` plus pgpulse's `trustProxy`. On other
 * runtimes, bytes come from `Content-Length`. The error behind a 5xx answer
 * (what Hono's `onError` handler saw, `c.error`) is stored with its request.
 *
 * ```ts
 * app.use(pgpulseHono(pulse));
 * ```
 */
export function pgpulseHono(pulse: Pulse): MiddlewareHandler {
  return createMiddleware(async (c, next) => {
    const bindings = c.env as NodeBindings | undefined;
    if (bindings?.incoming && bindings.outgoing) {
      pulse.track(bindings.incoming, bindings.outgoing, honoReader, c, nodeConnInfo?.(c).remote.address);
      await next();
      // What a handler threw (Hono's error handler, `app.onError` or the default one, answered it).
      if (c.error !== undefined) pulse.captureError(c.error, bindings.incoming, { ifServerError: true });
      return;
    }
    await recordFetchRequest(pulse, c, next);
  });
}

/** Runtimes without node:http objects (Bun, Deno, workers): measured from the Web Response. */
async function recordFetchRequest(pulse: Pulse, c: Context, next: () => Promise<void>): Promise<void> {
  const start = performance.now();
  let failed = false;
  try {
    await next();
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    if (!captureSkipped(c.req.raw)) record();
  }
  function record(): void {
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const length = c.req.method === 'HEAD' ? '0' : c.res.headers.get('content-length');
    const url = c.req.url;
    const pathStart = url.indexOf('/', url.indexOf('//') + 2);
    pulse.record({
      method: c.req.method,
      url: pathStart >= 0 ? url.slice(pathStart) : '/',
      route: handlerRoute(c),
      statusCode: failed ? 500 : c.res.status,
      startMs: start,
      durationMs: performance.now() - start,
      responseBytes: length ? Number(length) : null,
      headers,
      remoteAddress: undefined,
      requestId: requestIdOf(c),
      ...(c.error !== undefined ? { error: c.error } : {}),
    });
  }
}

export default pgpulseHono;
export { pgpulseDashboard, type HonoDashboardApp } from './hono-dashboard.js';

import type { MiddlewareHandler } from 'hono';
import type { Pulse } from '../create-pulse.js';

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
}

/**
 * Hono middleware capturing every request with the matched route pattern
 * (`c.req.routePath`). The client address is read from `@hono/node-server`'s
 * bindings when present, else from `X-Forwarded-For` when `trustProxy` is set.
 *
 * ```ts
 * app.use(pgpulseHono(pulse));
 * ```
 */
export function pgpulseHono(pulse: Pulse): MiddlewareHandler {
  const recorder = pulse.recorder;
  return async (c, next) => {
    const url = c.req.url;
    const pathStart = url.indexOf('/', url.indexOf('//') + 2);
    const pathAndQuery = pathStart >= 0 ? url.slice(pathStart) : '/';
    if (recorder.ignores(pathAndQuery)) return next();
    const start = performance.now();
    let failed = false;
    try {
      await next();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const length = c.res?.headers.get('content-length');
      const routePath = c.req.routePath;
      recorder.record({
        method: c.req.method,
        url: pathAndQuery,
        route: routePath && routePath !== '*' && routePath !== '/*' ? routePath : null,
        statusCode: failed ? 500 : (c.res?.status ?? 500),
        startMs: start,
        durationMs: performance.now() - start,
        responseBytes: length ? Number(length) : null,
        userAgent: c.req.header('user-agent'),
        referer: c.req.header('referer'),
        requestId: c.req.header('x-request-id'),
        forwardedFor: c.req.header('x-forwarded-for'),
        remoteAddress: (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress,
      });
    }
  };
}

export default pgpulseHono;

import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import type { Pulse } from '../create-pulse.js';

const startKey = Symbol('pgpulse.start');

interface Timed {
  [startKey]?: { at: Date; hr: bigint };
}

/**
 * Fastify plugin capturing every request with the route pattern Fastify
 * matched (`request.routeOptions.url`).
 *
 * ```ts
 * app.register(pgpulseFastify(pulse));
 * ```
 */
export function pgpulseFastify(pulse: Pulse): FastifyPluginCallback {
  const recorder = pulse.recorder;
  const plugin: FastifyPluginCallback = (app: FastifyInstance, _options, done) => {
    app.addHook('onRequest', (request, _reply, next) => {
      if (!recorder.ignores(request.raw.url)) (request as unknown as Timed)[startKey] = { at: new Date(), hr: process.hrtime.bigint() };
      next();
    });
    app.addHook('onResponse', (request, reply, next) => {
      const start = (request as unknown as Timed)[startKey];
      if (start) {
        const length = reply.getHeader('content-length');
        const headers = request.headers;
        recorder.record({
          method: request.method,
          url: request.raw.url,
          route: request.routeOptions?.url ?? null,
          statusCode: reply.statusCode,
          startedAt: start.at,
          durationMs: Number(process.hrtime.bigint() - start.hr) / 1e6,
          responseBytes: length === undefined ? null : Number(length),
          userAgent: headers['user-agent'],
          referer: headers.referer,
          requestId: headers['x-request-id'],
          forwardedFor: headers['x-forwarded-for'],
          remoteAddress: request.socket?.remoteAddress,
        });
      }
      next();
    });
    done();
  };
  // Same as fastify-plugin: hooks apply to the whole app, not one encapsulated context.
  (plugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
  (plugin as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'pgpulse';
  return plugin;
}

export default pgpulseFastify;

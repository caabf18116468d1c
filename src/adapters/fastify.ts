import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import type { Pulse } from '../create-pulse.js';

const startKey = Symbol('pgpulse.start');

interface Timed {
  /** `performance.now()` when the request started. */
  [startKey]?: number;
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
      // Only a timestamp here: ignore rules and derived fields are applied in the recorder's batch.
      (request as unknown as Timed)[startKey] = performance.now();
      next();
    });
    app.addHook('onResponse', (request, reply, next) => {
      const start = (request as unknown as Timed)[startKey];
      if (start !== undefined) {
        const length = reply.getHeader('content-length');
        const headers = request.headers;
        recorder.record({
          method: request.method,
          url: request.raw.url,
          route: request.routeOptions?.url ?? null,
          statusCode: reply.statusCode,
          startMs: start,
          durationMs: performance.now() - start,
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

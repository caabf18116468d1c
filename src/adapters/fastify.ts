import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { FrameworkReader } from '../capture/node-middleware.js';
import type { Pulse } from '../create-pulse.js';
import { z } from 'zod';
import { parseOption } from '../shared/option-schema.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The pgpulse instance registered with `pgpulseFastify(pulse)`. */
    pgpulse: Pulse;
  }
}

/** Fastify versions this plugin is tested with (checked by fastify-plugin at `register`). */
export const supportedFastifyVersions = '5.x';

export interface PgpulseFastifyOptions {
  /**
   * What the Fastify `onClose` hook does with the pulse: `'close'` flushes and
   * closes it, `'flush'` only flushes (when the pulse outlives this Fastify
   * instance), `false` leaves it alone. Default `'close'`.
   */
  onClose?: 'close' | 'flush' | false;
}

/** {@link PgpulseFastifyOptions.onClose} with its default. */
const onCloseSchema = z.union([z.enum(['close', 'flush']), z.literal(false)], { error: "must be 'close', 'flush' or false" }).default('close');

/** Ids of Fastify's built-in `genReqId` (`req-1`, `req-2`, …, counted per process). */
const DEFAULT_FASTIFY_ID = /^req-[0-9a-z]+$/;

function fastifyId(request: FastifyRequest): string | undefined {
  const id = request.id as unknown;
  if (typeof id === 'number') return String(id);
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * Read in the capture batch: Fastify's route pattern, `request.id` and
 * `request.ip` (so Fastify's `trustProxy` decides). `request.id` is what
 * Fastify logs as `reqId`: its `requestIdHeader` (none by default in Fastify 5),
 * else its `genReqId(req)`, else its own `req-N`. That last one is handed over
 * as the default id, which pgpulse's `requestIdHeader`/`genRequestId` replace
 * only when the app set them (as in 0.2).
 */
const fastifyReader: FrameworkReader<FastifyRequest> = {
  route: (request) => request.routeOptions.url ?? null,
  requestId: (request) => {
    const id = fastifyId(request);
    return id !== undefined && !DEFAULT_FASTIFY_ID.test(id) ? id : undefined;
  },
  defaultRequestId: (request) => {
    const id = fastifyId(request);
    return id !== undefined && DEFAULT_FASTIFY_ID.test(id) ? id : undefined;
  },
  ip: (request) => {
    try {
      return request.ip || undefined;
    } catch {
      return undefined;
    }
  },
};

/**
 * Fastify plugin (built with fastify-plugin, so its hook applies to the whole
 * app) capturing every request with the route pattern Fastify matched
 * (`request.routeOptions.url`), Fastify's client address (`request.ip`, so
 * Fastify's `trustProxy` decides) and its request id (`request.id`, the
 * `reqId` of Fastify's own logs, so `genReqId` and `requestIdHeader` work). The response is measured where it is
 * written, so streamed bodies and client aborts (499) are recorded like in
 * every other adapter. The error behind a 5xx answer (the `onError` hook) is
 * stored with its request. Decorates the instance with `pgpulse`, and flushes and
 * closes the pulse when Fastify closes.
 *
 * ```ts
 * await app.register(pgpulseFastify(pulse));
 * ```
 */
export function pgpulseFastify(pulse: Pulse, options: PgpulseFastifyOptions = {}): FastifyPluginCallback {
  // Checked at runtime too: JavaScript callers get no type check.
  const onClose = parseOption('pgpulse', 'pgpulseFastify onClose', onCloseSchema, options.onClose, TypeError);
  const plugin: FastifyPluginCallback = (app: FastifyInstance, _options, done) => {
    app.decorate('pgpulse', pulse);
    app.addHook('onRequest', (request, reply, next) => {
      // Only timestamps and references here: ignore rules and derived fields are applied in the capture batch.
      pulse.track(request.raw, reply.raw, fastifyReader, request);
      next();
    });
    // The error behind a 5xx answer, kept with its request (a 4xx error, such as a failed validation, is not).
    app.addHook('onError', (request, _reply, error, next) => {
      pulse.captureError(error, request.raw, { ifServerError: true });
      next();
    });
    if (onClose !== false) {
      app.addHook('onClose', async () => {
        await (onClose === 'close' ? pulse.close() : pulse.flush());
      });
    }
    done();
  };
  return fp(plugin, { name: 'pgpulse', fastify: supportedFastifyVersions });
}

export default pgpulseFastify;
export { pgpulseDashboard, type FastifyDashboardPlugin } from './fastify-dashboard.js';

import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { createDashboard, type Dashboard, type DashboardOptions } from '../dashboard/dashboard.js';

/** A Fastify plugin serving the dashboard, with the dashboard it serves. */
export type FastifyDashboardPlugin = FastifyPluginCallback & { readonly dashboard: Dashboard };

/**
 * Fastify plugin serving the dashboard under the prefix it is registered with.
 * The dashboard's requests are never recorded by `pgpulseFastify`, whatever
 * the registration order. Its streams end when Fastify closes.
 *
 * ```ts
 * app.register(pgpulseDashboard({ db: pulse.db, pubsub: pulse.pubsub, token }), { prefix: '/pgpulse' });
 * ```
 */
export function pgpulseDashboard(options: DashboardOptions): FastifyDashboardPlugin {
  const dashboard = createDashboard(options);
  const plugin: FastifyPluginCallback = (app: FastifyInstance, _options, done) => {
    const prefix = app.prefix;
    // The dashboard reads its own (tiny) login body; Fastify must leave the stream alone.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null, undefined));
    const serve = (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      const raw = request.raw;
      const url = raw.url ?? '/';
      const inside = url.startsWith(prefix) ? url.slice(prefix.length) : url;
      // Fastify's own view of the client (its `trustProxy`), read by the dashboard like Express's req.ip/req.secure.
      Object.assign(raw, { originalUrl: url, url: inside.startsWith('/') ? inside : `/${inside}`, ip: request.ip, secure: request.protocol === 'https' });
      dashboard.handler(raw, reply.raw);
    };
    const methods = ['GET', 'HEAD', 'POST'];
    app.route({ method: methods, url: '/', handler: serve });
    app.route({ method: methods, url: '/*', handler: serve });
    app.addHook('onClose', (_instance, closed) => {
      dashboard.close().then(() => closed(), closed);
    });
    done();
  };
  return Object.assign(plugin, { dashboard });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Hono } from 'hono';
import { createDashboard, type Dashboard, type DashboardOptions } from '../dashboard/dashboard.js';
import { skipCapture } from '../skip-capture.js';
import { routePath } from 'hono/route';

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

/**
 * Hono, loaded when a sub-app is made rather than when `pgpulse/hono` is
 * imported: hono is an optional peer dependency, so the subpath must load
 * without it. `app.route()` only reads the sub-app's routes and error handler.
 */
function honoClass(): typeof Hono {
  try {
    return (createRequire(import.meta.url)('hono') as { Hono: typeof Hono }).Hono;
  } catch (error) {
    throw new Error('pgpulse/hono: pgpulseDashboard() needs the hono package (npm install hono)', { cause: error });
  }
}

/** A Hono sub-app serving the dashboard, with the dashboard it serves. */
export type HonoDashboardApp = Hono & { readonly dashboard: Dashboard };

/**
 * A Hono sub-app serving the dashboard wherever it is routed. It answers on
 * the Node server (`@hono/node-server`), streaming straight to Node's
 * response. The dashboard's requests are never recorded by `pgpulseHono`,
 * whatever the order. Call `.dashboard.close()` on shutdown to end streams.
 *
 * ```ts
 * app.route('/pgpulse', pgpulseDashboard({ db: pulse.db, pubsub: pulse.pubsub, token }));
 * ```
 */
export function pgpulseDashboard(options: DashboardOptions): HonoDashboardApp {
  const dashboard = createDashboard(options);
  const app = new (honoClass())();
  app.all('/*', (c) => {
    skipCapture(c.req.raw);
    const { incoming, outgoing } = (c.env ?? {}) as NodeBindings;
    if (!incoming || !outgoing) {
      return c.json({ error: 'pgpulse dashboard: the Hono sub-app runs on @hono/node-server (serve from @hono/node-server)' }, 500);
    }
    // The mount point, from the matched pattern ('/pgpulse/*' → '/pgpulse').
    const prefix = routePath(c).replace(/\/?\*$/, '');
    const url = incoming.url ?? '/';
    const inside = prefix && url.startsWith(prefix) ? url.slice(prefix.length) : url;
    Object.assign(incoming, { originalUrl: url, url: inside.startsWith('/') ? inside : `/${inside}` });
    dashboard.handler(incoming, outgoing);
    // @hono/node-server's RESPONSE_ALREADY_SENT: the response was written to Node's `outgoing`.
    return new Response(null, { headers: { 'x-hono-already-sent': 'true' } });
  });
  return Object.assign(app, { dashboard });
}

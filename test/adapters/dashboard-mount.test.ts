import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgpulseDashboard as fastifyDashboard, pgpulseFastify } from '../../src/adapters/fastify.js';
import { pgpulseDashboard as honoDashboard, pgpulseHono } from '../../src/adapters/hono.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { openSse } from '../support/sse.js';

const TOKEN = 'mount-token';
const auth = { authorization: `Bearer ${TOKEN}` };
type Order = 'dashboard first' | 'capture first';
const ORDERS: Order[] = ['dashboard first', 'capture first'];

/** Starts an app of each framework with the dashboard at /pgpulse and capture in the given order; returns its base URL and a stop function. */
const frameworks: Record<string, (pulse: Pulse, order: Order) => Promise<{ base: string; stop: () => Promise<void> }>> = {
  express: async (pulse, order) => {
    const dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    const app = express();
    if (order === 'dashboard first') app.use('/pgpulse', dashboard.handler);
    app.use(pulse.middleware());
    if (order === 'capture first') app.use('/pgpulse', dashboard.handler);
    app.get('/hello/:name', (_req, res) => void res.send('hi'));
    const server = createServer(app);
    const base = await listen(server);
    return {
      base,
      stop: async () => {
        await dashboard.close();
        await closeServer(server);
      },
    };
  },
  fastify: async (pulse, order) => {
    const app = Fastify();
    const dashboard = fastifyDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    if (order === 'dashboard first') await app.register(dashboard, { prefix: '/pgpulse' });
    await app.register(pgpulseFastify(pulse, { onClose: false }));
    if (order === 'capture first') await app.register(dashboard, { prefix: '/pgpulse' });
    app.get('/hello/:name', async () => 'hi');
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    return { base, stop: () => app.close() };
  },
  hono: async (pulse, order) => {
    const app = new Hono();
    const dashboard = honoDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    if (order === 'dashboard first') app.route('/pgpulse', dashboard);
    app.use(pgpulseHono(pulse));
    if (order === 'capture first') app.route('/pgpulse', dashboard);
    app.get('/hello/:name', (c) => c.text('hi'));
    let server!: Server;
    const base = await new Promise<string>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`)) as Server;
    });
    return {
      base,
      stop: async () => {
        await dashboard.dashboard.close();
        await closeServer(server);
      },
    };
  },
};

describe('dashboard mounted in each framework, never recorded', () => {
  let database: TestDatabase;
  let pulse: Pulse;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 10 });
    await pulse.migrate();
  });

  afterAll(async () => {
    await pulse.close();
    await database.drop();
  });

  for (const [name, start] of Object.entries(frameworks)) {
    for (const order of ORDERS) {
      it(`${name}, ${order}: page, login, API, assets and stream under /pgpulse; only the app's own requests recorded`, async () => {
        await pulse.db.deleteFrom('pgpulse.request_logs').execute();
        const { base, stop } = await start(pulse, order);
        try {
          const bare = await fetch(`${base}/pgpulse`, { redirect: 'manual' });
          expect(bare.status).toBe(308);
          expect(bare.headers.get('location')).toBe('./pgpulse/');
          expect((await fetch(`${base}/pgpulse/`)).status, 'login form').toBe(401);
          const login = await fetch(`${base}/pgpulse/api/session`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ token: TOKEN }),
          });
          expect(login.status).toBe(303);
          const cookie = login.headers.get('set-cookie')!;
          expect(cookie).toContain('Path=/pgpulse/');
          const page = await fetch(`${base}/pgpulse/`, { headers: { cookie: cookie.split(';')[0]! } });
          expect(page.status).toBe(200);
          expect(await page.text()).toContain('<script src="app.js">');
          expect((await fetch(`${base}/pgpulse/app.js`, { headers: auth })).status).toBe(200);
          expect((await fetch(`${base}/pgpulse/vendor/uPlot.iife.min.js`, { headers: auth })).status).toBe(200);
          const stats = await fetch(`${base}/pgpulse/api/stats?from=${Date.now() - 60_000}`, { headers: auth });
          expect(stats.status).toBe(200);
          // Raw rows were deleted above and the dashboard's own requests are never recorded.
          const answer = (await stats.json()) as { range: { source: string }; totals: { requests: number; errorRate: number } };
          expect(answer.range.source).toBe('raw');
          expect(answer.totals).toMatchObject({ requests: 0, errorRate: 0 });
          const stream = await openSse(`${base}/pgpulse/api/stream`, auth);
          expect(stream.status).toBe(200);
          pulse.pubsub.publish(makeLog({ path: '/from-stream', request_id: `${name}-${order}` }));
          await eventually(() => stream.events.some((e) => e.data.includes(`${name}-${order}`)), 5_000, 'streamed row');
          stream.close();
          expect((await fetch(`${base}/hello/world`)).status).toBe(200);
          await pulse.flush();
          await eventually(async () => (await pulse.db.selectFrom('pgpulse.request_logs').select('path').execute()).some((r) => r.path === '/hello/world'));
          await pulse.flush();
          const paths = (await pulse.db.selectFrom('pgpulse.request_logs').select('path').execute()).map((r) => r.path);
          expect(
            paths.filter((p) => p.startsWith('/pgpulse')),
            'dashboard requests recorded',
          ).toEqual([]);
          expect(paths).toContain('/hello/world');
        } finally {
          await stop();
        }
      });
    }
  }

  it('a token-less dashboard serves loopback only: another address gets 403 naming the token option, unless public', async () => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!address) {
      console.warn(
        '[dashboard-mount] skipped the non-loopback check: this machine has no non-internal IPv4 address (test/reliability/closed-by-default.test.ts covers it in a network namespace)',
      );
      return;
    }
    const closed = createDashboard({ db: pulse.db, pubsub: pulse.pubsub });
    const open = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, public: true });
    const servers = [createServer(closed.handler), createServer(open.handler)];
    for (const server of servers) server.listen(0, address);
    await Promise.all(servers.map((server) => once(server, 'listening')));
    const [closedPort, openPort] = servers.map((server) => (server.address() as { port: number }).port);
    try {
      const loopback = createServer(closed.handler);
      const loopbackBase = await listen(loopback);
      expect((await fetch(`${loopbackBase}/app.js`)).status).toBe(200);
      await closeServer(loopback);
      const refused = await fetch(`http://${address}:${closedPort}/app.js`);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toMatch(/`token`/);
      expect(closed.stats.forbidden).toBe(1);
      expect((await fetch(`http://${address}:${openPort}/app.js`)).status).toBe(200);
    } finally {
      await closed.close();
      await open.close();
      for (const server of servers) await closeServer(server);
    }
  });
});

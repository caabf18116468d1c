import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { afterAll, describe, expect, it } from 'vitest';
import { pgpulseFastify } from '../../src/adapters/fastify.js';
import { pgpulseHono } from '../../src/adapters/hono.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { closeServer, listen, send } from '../support/http.js';
import { test } from '../support/migrated-database.js';

describe("each framework's own request id, and the Fastify plugin's lifecycle", () => {
  let pulse: Pulse;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'ids', maintenanceIntervalMs: 0 });
  });

  afterAll(async () => {
    await pulse.close();
  });

  const rowFor = async (path: string) => {
    await pulse.flush();
    return pulse.db.selectFrom('pgpulse.request_logs').selectAll().where('path', '=', path).executeTakeFirstOrThrow();
  };

  /** A Fastify app logging to memory: the `reqId` of each request's "incoming request" line, by URL. */
  async function fastifyApp(options: FastifyServerOptions, pulseOf: Pulse = pulse) {
    const logged = new Map<string, string>();
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const entry = JSON.parse(line) as { msg?: string; reqId?: string; req?: { url?: string } };
          if (entry.msg === 'incoming request' && entry.req?.url && entry.reqId) logged.set(entry.req.url, entry.reqId);
        }
        done();
      },
    });
    const app = Fastify({ ...options, logger: { level: 'info', stream } });
    await app.register(pgpulseFastify(pulseOf, { onClose: false }));
    app.get('/f/*', async () => 'ok');
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    return { app, base, logged };
  }

  it("Fastify: the stored id is request.id, the reqId of Fastify's own logs, in each of Fastify's id settings", async () => {
    const plain = await fastifyApp({});
    const header = await fastifyApp({ requestIdHeader: 'x-request-id' });
    let n = 0;
    const generated = await fastifyApp({ genReqId: (req) => `gen-${String(req.headers['x-tenant'])}-${++n}` });
    try {
      // Fastify 5 reads no header by default: its own req-N, not the x-request-id pgpulse used to read.
      await send(`${plain.base}/f/default`, { headers: { 'x-request-id': 'from-header' } });
      await send(`${header.base}/f/header`, { headers: { 'x-request-id': 'from-header' } });
      await send(`${header.base}/f/header-missing`);
      await send(`${generated.base}/f/custom`, { headers: { 'x-request-id': 'from-header', 'x-tenant': 'acme' } });
      const stored = async (path: string) => (await rowFor(path)).request_id;
      expect(await stored('/f/default')).toMatch(/^req-[0-9a-z]+$/);
      expect(await stored('/f/default')).toBe(plain.logged.get('/f/default'));
      expect(await stored('/f/header')).toBe('from-header');
      expect(header.logged.get('/f/header')).toBe('from-header');
      expect(await stored('/f/header-missing')).toBe(header.logged.get('/f/header-missing'));
      expect(await stored('/f/custom')).toBe('gen-acme-1');
      expect(generated.logged.get('/f/custom')).toBe('gen-acme-1');
      expect(plain.app.pgpulse).toBe(pulse);
    } finally {
      for (const { app } of [plain, header, generated]) await app.close();
    }
  });

  test("Fastify: pgpulse's own requestIdHeader and genRequestId, when the app sets them, still replace Fastify's req-N", async ({ database }) => {
    let n = 0;
    const own = createPulse({
      connectionString: database.url,
      nodeId: 'ids-4',
      requestIdHeader: 'x-correlation-id',
      genRequestId: () => `pgpulse-${++n}`,
      maintenanceIntervalMs: 0,
    });
    const plain = await fastifyApp({}, own);
    const header = await fastifyApp({ requestIdHeader: 'x-request-id' }, own);
    try {
      await send(`${plain.base}/f/own-header`, { headers: { 'x-correlation-id': 'corr-1' } });
      await send(`${plain.base}/f/own-gen`);
      // Fastify's id from its own requestIdHeader is the framework's id: it wins, as Express's req.id does.
      await send(`${header.base}/f/fastify-header`, { headers: { 'x-request-id': 'fastify-1', 'x-correlation-id': 'corr-2' } });
      await own.flush();
      const rows = await own.db.selectFrom('pgpulse.request_logs').select(['path', 'request_id']).where('node_id', '=', 'ids-4').orderBy('path').execute();
      expect(rows).toEqual([
        { path: '/f/fastify-header', request_id: 'fastify-1' },
        { path: '/f/own-gen', request_id: 'pgpulse-1' },
        { path: '/f/own-header', request_id: 'corr-1' },
      ]);
    } finally {
      await plain.app.close();
      await header.app.close();
      await own.close();
    }
  });

  it('Express: req.id set by a middleware', async () => {
    const app = express();
    app.use((req, _res, next) => {
      (req as unknown as { id: string }).id = 'express-id-1';
      next();
    });
    app.use(pulse.middleware());
    app.get('/e/id', (_req, res) => void res.send('ok'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      await send(`${base}/e/id`, { headers: { 'x-request-id': 'from-header' } });
      expect((await rowFor('/e/id')).request_id).toBe('express-id-1');
    } finally {
      await closeServer(server);
    }
  });

  it('Hono: the requestId variable (hono/request-id)', async () => {
    const app = new Hono();
    app.use(requestId({ generator: () => 'hono-id-1' }));
    app.use(pgpulseHono(pulse));
    app.get('/h/id', (c) => c.text('ok'));
    let server!: Server;
    const base = await new Promise<string>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`)) as Server;
    });
    try {
      await send(`${base}/h/id`);
      expect((await rowFor('/h/id')).request_id).toBe('hono-id-1');
    } finally {
      await closeServer(server);
    }
  });

  test('bare node:http: requestIdHeader and genRequestId', async ({ database }) => {
    let n = 0;
    const own = createPulse({
      connectionString: database.url,
      nodeId: 'ids-2',
      requestIdHeader: 'x-correlation-id',
      genRequestId: () => `gen-${++n}`,
      maintenanceIntervalMs: 0,
    });
    const { createServer } = await import('node:http');
    const server = createServer(own.wrap((_req, res) => res.end('ok')));
    try {
      const base = await listen(server);
      await send(`${base}/n/header`, { headers: { 'x-correlation-id': 'corr-1', 'x-request-id': 'ignored' } });
      await send(`${base}/n/generated`, { headers: { 'x-request-id': 'ignored' } });
      await own.flush();
      const rows = await own.db.selectFrom('pgpulse.request_logs').select(['path', 'request_id']).where('node_id', '=', 'ids-2').orderBy('path').execute();
      expect(rows).toEqual([
        { path: '/n/generated', request_id: 'gen-1' },
        { path: '/n/header', request_id: 'corr-1' },
      ]);
    } finally {
      await closeServer(server);
      await own.close();
    }
  });

  test('Fastify onClose closes the pulse by default', async ({ database }) => {
    const own = createPulse({ connectionString: database.url, nodeId: 'ids-3', maintenanceIntervalMs: 0 });
    const app = Fastify();
    await app.register(pgpulseFastify(own));
    app.get('/c/closed', async () => 'ok');
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    await send(`${base}/c/closed`);
    await app.close();
    // The row was flushed before the pulse's own pool was ended by Fastify's onClose.
    expect((await rowFor('/c/closed')).node_id).toBe('ids-3');
    await expect(own.db.selectFrom('pgpulse.request_logs').select('id').execute()).rejects.toThrow();
    await own.close(); // idempotent
    expect(() => pgpulseFastify(own, { onClose: 'sometimes' as never })).toThrow(/onClose must be/);
  });
});

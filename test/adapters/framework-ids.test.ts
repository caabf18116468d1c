import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
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

  it("Fastify: request.id from genReqId wins over the header; Fastify's default req-N ids are not stored", async () => {
    let n = 0;
    const app = Fastify({ genReqId: () => `fastify-${++n}` });
    await app.register(pgpulseFastify(pulse, { onClose: 'flush' }));
    app.get('/f/custom', async () => 'ok');
    const plain = Fastify();
    await plain.register(pgpulseFastify(pulse, { onClose: false }));
    plain.get('/f/default', async () => 'ok');
    try {
      const base = await app.listen({ port: 0, host: '127.0.0.1' });
      const plainBase = await plain.listen({ port: 0, host: '127.0.0.1' });
      await send(`${base}/f/custom`, { headers: { 'x-request-id': 'from-header' } });
      await send(`${plainBase}/f/default`);
      expect((await rowFor('/f/custom')).request_id).toBe('fastify-1');
      expect((await rowFor('/f/default')).request_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(app.pgpulse).toBe(pulse);
    } finally {
      await app.close();
      await plain.close();
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

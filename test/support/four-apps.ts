import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { pgpulseFastify } from '../../src/adapters/fastify.js';
import { pgpulseHono } from '../../src/adapters/hono.js';
import type { Pulse } from '../../src/create-pulse.js';
import { closeServer, listen } from './http.js';

/** The four ways pgpulse captures requests. */
export const adapterNames = ['node:http', 'express', 'fastify', 'hono'] as const;
export type AdapterName = (typeof adapterNames)[number];

/** One app serving the same routes, captured by one pulse; `handlerStarted(path)` resolves when a handler for it is running. */
export interface RunningApp {
  name: AdapterName;
  base: string;
  port: number;
  /** Resolves when the `/slow` handler has started (the client may then abort). */
  slowStarted(): Promise<void>;
  close(): Promise<void>;
}

/** Proxy trust in each framework's own terms (for bare node:http and Hono it is pgpulse's `trustProxy`). */
export interface AppOptions {
  trustProxy?: string;
}

const STREAM_CHUNKS = ['a', 'bc', 'déf'];

/**
 * Same routes in every framework, with the same bodies, so every adapter must
 * store the same row:
 * - `GET /users/:id` → 200 `hello`; `GET /stream` → 200, streamed in 3 chunks (7 bytes)
 * - `GET /boom` throws → 500 `error` (the error stored with the row); unknown path → 404 `not found`
 * - `GET /old` → 302 to `/new`, no body; `GET /slow` answers only after the client went away
 */
export async function startApp(name: AdapterName, pulse: Pulse, options: AppOptions = {}): Promise<RunningApp> {
  let signalSlow!: () => void;
  const slow = new Promise<void>((resolve) => (signalSlow = resolve));
  const waitForClose = (res: ServerResponse) =>
    new Promise<void>((resolve) => (res.destroyed || res.writableFinished ? resolve() : res.once('close', () => resolve())));
  if (name === 'node:http') {
    const server = createServer(
      pulse.wrap(async (req: IncomingMessage, res: ServerResponse) => {
        const path = (req.url ?? '/').split('?')[0]!;
        try {
          if (path.startsWith('/users/')) return void res.end('hello');
          if (path === '/stream') {
            res.write(STREAM_CHUNKS[0]);
            res.write(Buffer.from(STREAM_CHUNKS[1]!));
            return void res.end(STREAM_CHUNKS[2]);
          }
          if (path === '/boom') throw new Error('boom');
          if (path === '/old') {
            res.writeHead(302, { location: '/new' });
            return void res.end();
          }
          if (path === '/slow') {
            signalSlow();
            await waitForClose(res);
            return;
          }
          res.statusCode = 404;
          res.end('not found');
        } catch (error) {
          pulse.captureError(error, req);
          res.statusCode = 500;
          res.end('error');
        }
      }),
    );
    const base = await listen(server);
    return running(name, base, slow, () => closeServer(server));
  }
  if (name === 'express') {
    const app = express();
    if (options.trustProxy) app.set('trust proxy', options.trustProxy);
    app.use(pulse.middleware());
    app.get('/users/:id', (_req, res) => void res.send('hello'));
    app.get('/stream', (_req, res) => {
      res.write(STREAM_CHUNKS[0]);
      res.write(Buffer.from(STREAM_CHUNKS[1]!));
      res.end(STREAM_CHUNKS[2]);
    });
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.get('/old', (_req, res) => void res.status(302).location('/new').end());
    app.get('/slow', async (_req, res) => {
      signalSlow();
      await waitForClose(res);
    });
    app.use((_req: unknown, res: express.Response) => void res.status(404).send('not found'));
    app.use(pulse.errorMiddleware());
    app.use((_error: unknown, _req: unknown, res: express.Response, _next: unknown) => void res.status(500).send('error'));
    const server = createServer(app);
    const base = await listen(server);
    return running(name, base, slow, () => closeServer(server));
  }
  if (name === 'fastify') {
    // Fastify 5 reads no request-id header unless told to; the scenarios name their rows by x-request-id.
    const app = Fastify({ requestIdHeader: 'x-request-id', ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}) });
    await app.register(pgpulseFastify(pulse, { onClose: 'flush' }));
    app.get('/users/:id', async () => 'hello');
    app.get('/stream', async (_request, reply) => reply.send(Readable.from(STREAM_CHUNKS.map((chunk) => Buffer.from(chunk)))));
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    app.get('/old', async (_request, reply) => reply.redirect('/new', 302));
    app.get('/slow', async (_request, reply) => {
      signalSlow();
      await waitForClose(reply.raw);
      return reply.hijack();
    });
    app.setNotFoundHandler(async (_request, reply) => reply.code(404).send('not found'));
    app.setErrorHandler(async (_error, _request, reply) => reply.code(500).send('error'));
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    return running(name, base, slow, () => app.close());
  }
  const app = new Hono<{ Bindings: { outgoing: ServerResponse } }>();
  app.use(pgpulseHono(pulse));
  app.get('/users/:id', (c) => c.text('hello'));
  app.get('/stream', (c) => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of STREAM_CHUNKS) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    return c.body(body);
  });
  app.get('/boom', () => {
    throw new Error('boom');
  });
  app.get('/old', (c) => c.redirect('/new', 302));
  app.get('/slow', async (c) => {
    signalSlow();
    await waitForClose(c.env.outgoing);
    return c.text('late');
  });
  app.notFound((c) => c.text('not found', 404));
  app.onError((_error, c) => c.text('error', 500));
  let server!: Server;
  const base = await new Promise<string>((resolve) => {
    // overrideGlobalObjects: false — with node-server's global Response, Hono 4.13.19 answers every HEAD with 500
    // (`new Response(null, response)` throws inside @hono/node-server 1.19.19), with or without pgpulse.
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', overrideGlobalObjects: false }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    ) as Server;
  });
  return running(name, base, slow, () => closeServer(server));
}

function running(name: AdapterName, base: string, slow: Promise<void>, close: () => Promise<void>): RunningApp {
  return { name, base, port: Number(new URL(base).port), slowStarted: () => slow, close };
}

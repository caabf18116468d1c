import { createServer, type Server } from 'node:http';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { closeServer, listen, send } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const HEADER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const HEADER_SPAN = '00f067aa0ba902b7';
const SPAN_TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN_SPAN = 'b7ad6b7169203331';

/**
 * With `@opentelemetry/api` installed and a context manager registered (what
 * an OpenTelemetry SDK sets up), the span active while the request is handled
 * wins over the `traceparent` header. The server below plays the part of the
 * HTTP instrumentation: it runs the app inside the context of a server span.
 */
describe('OpenTelemetry: the active span', () => {
  let pulse: Pulse;
  let server: Server;
  let base: string;
  const contextManager = new AsyncLocalStorageContextManager();

  test.beforeAll(async ({ database }) => {
    context.setGlobalContextManager(contextManager.enable());
    pulse = createPulse({ connectionString: database.url, nodeId: 'otel-node', maintenanceIntervalMs: 0 });
    const app = express();
    app.use(pulse.middleware());
    app.get('/work', (_req, res) => void res.send('done'));
    server = createServer((req, res) => {
      const spanId = req.headers['x-span'] === 'invalid' ? '0'.repeat(16) : SPAN_SPAN;
      const span = req.headers['x-span'] === 'none' ? undefined : trace.wrapSpanContext({ traceId: SPAN_TRACE, spanId, traceFlags: TraceFlags.SAMPLED });
      const active = span ? trace.setSpan(context.active(), span) : context.active();
      context.with(active, () => app(req, res));
    });
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
    context.disable();
  });

  const stored = async (requestId: string) => {
    await pulse.flush();
    return pulse.db.selectFrom('pgpulse.request_logs').select(['trace_id', 'span_id']).where('request_id', '=', requestId).executeTakeFirstOrThrow();
  };
  const traceparent = `00-${HEADER_TRACE}-${HEADER_SPAN}-01`;

  it('stores the ids of the span active during the request, not the header', async () => {
    await send(`${base}/work`, { headers: { traceparent, 'x-request-id': 'with-span' } });
    expect(await stored('with-span')).toEqual({ trace_id: SPAN_TRACE, span_id: SPAN_SPAN });
  });

  it('falls back to the traceparent header when no span is active, or its context is invalid', async () => {
    await send(`${base}/work`, { headers: { traceparent, 'x-request-id': 'no-span', 'x-span': 'none' } });
    await send(`${base}/work`, { headers: { traceparent, 'x-request-id': 'invalid-span', 'x-span': 'invalid' } });
    await send(`${base}/work`, { headers: { 'x-request-id': 'nothing', 'x-span': 'none' } });
    expect(await stored('no-span')).toEqual({ trace_id: HEADER_TRACE, span_id: HEADER_SPAN });
    expect(await stored('invalid-span')).toEqual({ trace_id: HEADER_TRACE, span_id: HEADER_SPAN });
    expect(await stored('nothing')).toEqual({ trace_id: null, span_id: null });
  });

  it('pulse.record() reads the span active when it is called', async () => {
    const span = trace.wrapSpanContext({ traceId: SPAN_TRACE, spanId: SPAN_SPAN, traceFlags: TraceFlags.NONE });
    context.with(trace.setSpan(context.active(), span), () =>
      pulse.record({
        method: 'GET',
        url: '/recorded',
        route: null,
        statusCode: 200,
        startMs: performance.now(),
        durationMs: 1,
        responseBytes: 0,
        headers: { 'x-request-id': 'recorded' },
        remoteAddress: undefined,
      }),
    );
    expect(await stored('recorded')).toEqual({ trace_id: SPAN_TRACE, span_id: SPAN_SPAN });
  });
});

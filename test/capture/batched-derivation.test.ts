import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { parseRequestLog, type RequestLog } from '../../src/schema/request-log.js';
import { closeServer, hammer, listen } from '../support/http.js';

/**
 * The request path only queues; RequestLogs are derived in batches after the
 * response, before broadcast. Subscribers still get complete, valid logs.
 */
describe('capture derives logs in batches off the request path', () => {
  let pulse: Pulse;
  let server: Server;
  let base: string;
  const seen: RequestLog[] = [];
  let queuedWhenResponding = -1;

  beforeAll(async () => {
    // store: false — only the capture stage and the PubSub are exercised.
    pulse = createPulse({ connectionString: 'postgres://127.0.0.1:1/none', nodeId: 'batch-node', store: false, maintenanceIntervalMs: 0 });
    pulse.pubsub.subscribe((message) => {
      seen.push(message.event);
    });
    server = createServer(
      pulse.wrap((req, res) => {
        if (req.url === '/probe') queuedWhenResponding = pulse.recorder.queued;
        res.setHeader('content-type', 'text/plain');
        res.end('ok');
      }),
    );
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
  });

  it('broadcasts complete, schema-valid logs with wall-clock start times', async () => {
    const before = Date.now();
    const paths = Array.from({ length: 300 }, (_, i) => `/b/${i}?q=${i}`);
    await hammer(base, paths, 25, (i) => ({
      'user-agent': i % 2 ? 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile' : 'curl/8.0',
      referer: 'https://example.com/x',
    }));
    await pulse.flush();
    const after = Date.now();
    expect(seen).toHaveLength(300);
    for (const log of seen) {
      expect(() => parseRequestLog(log)).not.toThrow();
      expect(log.inserted_at.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(log.inserted_at.getTime()).toBeLessThanOrEqual(after + 5);
      expect(log.visitor_id).toMatch(/^[\w-]{22}$/);
      expect(log.session_id).toBeTruthy();
      expect(log.request_id).toBeTruthy();
      expect(log.node_id).toBe('batch-node');
      expect(log.path).toMatch(/^\/b\/\d+$/);
      expect(log.status_code).toBe(200);
      expect(log.response_bytes).toBe(2);
    }
    expect(new Set(seen.map((l) => l.device_type))).toEqual(new Set(['bot', 'mobile']));
    expect(new Set(seen.map((l) => l.request_id)).size).toBe(300);
  });

  it('queues on the request path and broadcasts only after flush()/the next batch', async () => {
    seen.length = 0;
    let published = 0;
    const unsubscribe = pulse.pubsub.subscribe(() => {
      published++;
    });
    const broadcastBefore = pulse.stats.pubsub.broadcast;
    const start = performance.now();
    pulse.recorder.record({
      method: 'GET',
      url: '/queued?x=1',
      route: null,
      statusCode: 201,
      startMs: start,
      durationMs: 1.5,
      responseBytes: 3,
      headers: { 'x-request-id': 'queued-1' },
      remoteAddress: '127.0.0.9',
    });
    expect(pulse.recorder.queued).toBe(1);
    expect(pulse.stats.pubsub.broadcast).toBe(broadcastBefore);
    await pulse.flush();
    unsubscribe();
    expect(pulse.recorder.queued).toBe(0);
    expect(published).toBe(1);
    expect(seen).toMatchObject([{ request_id: 'queued-1', path: '/queued', status_code: 201, duration_ms: 1.5 }]);
    // A request on the wire is queued by its own close listener, after the handler ran.
    await hammer(base, ['/probe']);
    expect(queuedWhenResponding).toBe(0);
  });

  it('applies ignore rules in the batch', async () => {
    seen.length = 0;
    await hammer(base, ['/healthz', '/app.js', '/kept']);
    await pulse.flush();
    expect(seen.map((l) => l.path)).toEqual(['/kept']);
  });
});

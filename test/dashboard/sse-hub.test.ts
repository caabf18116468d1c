import { createServer, get, type Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub, type SseHubOptions } from '../../src/dashboard/sse-hub.js';
import { PubSub } from '../../src/pubsub.js';
import { liveParamsSchema, parseQuery } from '../../src/stats/stats-params.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { openSse } from '../support/sse.js';

describe('SseHub', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function start(options: SseHubOptions = {}): Promise<{ pubsub: PubSub; hub: SseHub; base: string }> {
    const pubsub = new PubSub();
    const hub = new SseHub(pubsub, { flushIntervalMs: 5, ...options });
    // Filters from the query string, as the dashboard's /api/stream reads them.
    const server: Server = createServer((req, res) => {
      const live = parseQuery(liveParamsSchema, new URL(req.url ?? '/', 'http://hub').searchParams);
      hub.attach(res, req.headers['last-event-id'] as string | undefined, live.ok ? live.params : {});
    });
    const base = await listen(server);
    cleanup.push(
      () => hub.close(),
      () => closeServer(server),
    );
    return { pubsub, hub, base };
  }

  it('uses the row id as the SSE id when the event carries one, and resumes after it', async () => {
    const { pubsub, hub, base } = await start();
    const client = await openSse(base);
    await eventually(() => hub.stats.clients === 1);
    for (const id of [101, 103, 102]) pubsub.publish({ ...makeLog({ path: `/row/${id}`, ip: '192.0.2.1' }), id });
    await eventually(() => client.events.length === 3);
    expect(client.events.map((e) => e.id)).toEqual(['101', '103', '102']);
    expect(client.events.every((e) => !e.data.includes('192.0.2.1'))).toBe(true);
    client.close();

    const resumed = await openSse(base, { 'last-event-id': '103' });
    await eventually(() => resumed.events.length === 1);
    expect(JSON.parse(resumed.events[0]!.data).path).toBe('/row/102');
    resumed.close();
    expect(hub.stats.replayGaps).toBe(0);
  });

  it('a client resuming while newer events wait for the next flush gets each of them once', async () => {
    // Long enough that the client resumes before the flush that carries event 2.
    const { pubsub, hub, base } = await start({ flushIntervalMs: 2_000 });
    const first = await openSse(base);
    await eventually(() => hub.stats.clients === 1);
    pubsub.publish({ ...makeLog({ path: '/seen' }), id: 1 });
    await eventually(() => first.events.length === 1, 5_000);
    first.close();
    pubsub.publish({ ...makeLog({ path: '/pending' }), id: 2 });
    await eventually(() => hub.stats.events === 2);
    const flushes = hub.stats.flushes;
    const resumed = await openSse(base, { 'last-event-id': '1' });
    // Event 2 was still waiting for the flush: the replay left it to the flush.
    expect(hub.stats.flushes).toBe(flushes);
    expect(hub.stats.replayed).toBe(0);
    await eventually(() => hub.stats.flushes > flushes, 10_000, 'the flush of event 2');
    // A marker after that flush: a duplicate of event 2 would arrive before it (one stream, in order).
    pubsub.publish({ ...makeLog({ path: '/after' }), id: 3 });
    await eventually(() => resumed.events.some((e) => e.id === '3'), 10_000, 'the marker event');
    expect(resumed.events.map((e) => e.id)).toEqual(['2', '3']);
    resumed.close();
  });

  it('numbers events without a row id with a sequence of this server', async () => {
    const { pubsub, hub, base } = await start();
    const client = await openSse(base);
    await eventually(() => hub.stats.clients === 1);
    pubsub.publish(makeLog());
    pubsub.publish(makeLog());
    await eventually(() => client.events.length === 2);
    const [a, b] = client.events.map((e) => e.id!);
    expect(a).toMatch(/^[0-9a-f]{8}-1$/);
    expect(b).toBe(a!.replace(/1$/, '2'));
    client.close();
  });

  it('reports a replay gap (event + counter) when the client is further behind than the ring', async () => {
    const { pubsub, hub, base } = await start({ replayEvents: 3 });
    const gaps: string[] = [];
    hub.on('replayGap', ({ lastEventId }) => gaps.push(lastEventId));
    for (let id = 1; id <= 10; id++) pubsub.publish({ ...makeLog(), id });
    await eventually(() => hub.stats.events === 10);
    const client = await openSse(base, { 'last-event-id': '2' });
    await eventually(() => client.events.length === 3);
    expect(client.events.map((e) => e.id)).toEqual(['8', '9', '10']);
    expect(gaps).toEqual(['2']);
    expect(hub.stats).toMatchObject({ replayGaps: 1, replayed: 3 });
    client.close();
  });

  it('sends heartbeat comments every heartbeatMs', async () => {
    const { base } = await start({ heartbeatMs: 30 });
    const text = await new Promise<string>((resolve, reject) => {
      get(base, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.split(': heartbeat').length > 2) {
            res.destroy();
            resolve(body);
          }
        });
      }).on('error', reject);
    });
    expect(text.startsWith('retry: 2000\n')).toBe(true);
  });

  it('removes a client when it disconnects and unsubscribes from the PubSub on close', async () => {
    const { pubsub, hub, base } = await start();
    expect(pubsub.stats.subscribers).toBe(1);
    const clients = await Promise.all([openSse(base), openSse(base)]);
    await eventually(() => hub.stats.clients === 2);
    clients[0].close();
    await eventually(() => hub.stats.clients === 1);
    hub.close();
    await clients[1].done;
    expect(pubsub.stats.subscribers).toBe(0);
    expect(hub.stats.clients).toBe(0);
    hub.close();
  });

  it('drops a client that stops reading (event + counter) while others keep receiving', async () => {
    const { pubsub, hub, base } = await start({ maxClientBufferBytes: 64 * 1024 });
    const drops: number[] = [];
    hub.on('slowClientDropped', ({ bufferedBytes }) => drops.push(bufferedBytes));
    const reader = await openSse(base);
    const socket = netConnect(Number(new URL(base).port), '127.0.0.1');
    cleanup.push(() => void socket.destroy());
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    await eventually(() => hub.stats.clients === 2);
    const big = 'U'.repeat(30_000);
    let sent = 0;
    for (let round = 0; round < 200 && hub.stats.slowClientsDropped === 0; round++) {
      for (let i = 0; i < 20; i++, sent++) pubsub.publish(makeLog({ user_agent: big }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(() => hub.stats.slowClientsDropped === 1, 10_000, 'slow client dropped');
    expect(drops).toHaveLength(1);
    expect(drops[0]).toBeGreaterThan(64 * 1024);
    expect(hub.stats.clients).toBe(1);
    await eventually(() => reader.events.length === sent, 10_000, 'reader got every event');
    reader.close();
  });

  it('sends a filtering client only the matching rows, one batch per set of filters, and replays only matching rows', async () => {
    const { pubsub, hub, base } = await start();
    const all = await openSse(base);
    const errors = await openSse(`${base}/?status=5xx`);
    const errorsToo = await openSse(`${base}/?status=5xx&limit=3`);
    const chromeInGermany = await openSse(`${base}/?browser=Chrome&country=de`);
    await eventually(() => hub.stats.clients === 4);
    const rows = [
      { id: 1, status_code: 200, browser: 'Chrome', country: 'DE' },
      { id: 2, status_code: 503, browser: 'Firefox', country: 'DE' },
      { id: 3, status_code: 500, browser: 'Chrome', country: 'DE' },
      { id: 4, status_code: 404, browser: 'Chrome', country: 'US' },
    ];
    for (const row of rows) pubsub.publish({ ...makeLog(row), id: row.id });
    await eventually(() => all.events.length === 4);
    await eventually(() => chromeInGermany.events.length === 2 && errors.events.length === 2 && errorsToo.events.length === 2);
    expect(errors.events.map((e) => e.id)).toEqual(['2', '3']);
    expect(errorsToo.events.map((e) => e.id)).toEqual(['2', '3']);
    expect(chromeInGermany.events.map((e) => e.id)).toEqual(['1', '3']);
    // A marker every client gets: nothing else was on its way.
    pubsub.publish({ ...makeLog({ status_code: 500, browser: 'Chrome', country: 'DE' }), id: 5 });
    for (const client of [all, errors, errorsToo, chromeInGermany]) await eventually(() => client.events.some((e) => e.id === '5'));
    expect(errors.events.map((e) => e.id)).toEqual(['2', '3', '5']);
    for (const client of [all, errors, errorsToo, chromeInGermany]) client.close();

    const resumed = await openSse(`${base}/?status=5xx`, { 'last-event-id': '1' });
    await eventually(() => resumed.events.length === 3);
    expect(resumed.events.map((e) => e.id)).toEqual(['2', '3', '5']);
    expect(hub.stats.replayed).toBe(3);
    resumed.close();
  });
});

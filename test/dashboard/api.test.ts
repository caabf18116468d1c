import { createServer, request, type Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import express from 'express';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { openSse } from '../support/sse.js';

const TOKEN = 's3cret-token';

describe('dashboard API', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  const t0 = Date.parse('2030-06-01T10:00:00Z');

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 10 });
    await pulse.migrate();
    // A known data set: 100 requests over 10 minutes.
    for (let i = 0; i < 100; i++) {
      pulse.pubsub.broadcast(
        makeLog({
          inserted_at: new Date(t0 + i * 6_000),
          route: i % 4 === 0 ? '/slow/:id' : '/users/:id',
          path: i % 10 === 9 ? '/missing' : `/users/${i % 7}`,
          status_code: i % 10 === 9 ? 404 : i % 20 === 0 ? 503 : 200,
          duration_ms: i % 4 === 0 ? 100 + i : i % 50,
          device_type: i % 3 === 0 ? 'mobile' : 'desktop',
          referer: i % 5 === 0 ? 'https://search.example/' : null,
          visitor_id: `v${i % 12}`,
        }),
      );
    }
    await pulse.flush();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, flushIntervalMs: 10, maxClientBufferBytes: 256 * 1024 });
    server = createServer(dashboard.handler);
    base = await listen(server);
  });

  afterAll(async () => {
    await dashboard.close();
    await closeServer(server);
    await pulse.close();
    await database.drop();
  });

  const auth = { authorization: `Bearer ${TOKEN}` };
  const countWhere = async (condition: string) =>
    (await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs where ${sql.raw(condition)}`.execute(pulse.db)).rows[0]!.n;
  const stats = (query: string) => fetch(`${base}/api/stats?${query}`, { headers: auth });

  it('answers totals, series and breakdowns that match the data', async () => {
    const response = await stats(`from=${t0}&to=${t0 + 600_000}&tz=Europe/Paris`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.totals).toMatchObject({ requests: 100, visitors: 12, status: { '2xx': 85, '4xx': 10, '5xx': 5 } });
    expect(body.totals.errorRate).toBeCloseTo(0.05);
    expect(body.series.reduce((a: number, p: { requests: number }) => a + p.requests, 0)).toBe(100);
    expect(body.range.bucketSeconds).toBe(10);
    expect(body.topRoutes[0]).toMatchObject({ route: '/users/:id', requests: 75 });
    expect(body.slowestRoutes[0].route).toBe('/slow/:id');
    expect(body.slowestRoutes[0].p95).toBeGreaterThan(100);
    expect(body.notFound).toEqual([{ key: '/missing', requests: 10, visitors: 6 }]);
    expect(body.referrers, 'grouped by host').toEqual([{ key: 'search.example', requests: 20, visitors: 12 }]);
    // Visitors per value: v0…v11, the mobile rows (i % 3 === 0) are those of v0, v3, v6 and v9.
    expect(body.devices).toEqual([
      { key: 'desktop', requests: 66, visitors: 8 },
      { key: 'mobile', requests: 34, visitors: 4 },
    ]);
    const durations = Array.from({ length: 100 }, (_, i) => (i % 4 === 0 ? 100 + i : i % 50)).sort((a, b) => a - b);
    expect(body.totals.p50).toBeCloseTo((durations[49]! + durations[50]!) / 2, 5);
  });

  it('filters by route and buckets by local day', async () => {
    const body = await (await stats(`from=${t0 - 3 * 86_400_000}&to=${t0 + 86_400_000}&tz=America/New_York&route=${encodeURIComponent('/slow/:id')}`)).json();
    expect(body.totals.requests).toBe(25);
    expect(body.range.bucketSeconds).toBe(3_600);
    const month = await (await stats(`from=${t0 - 30 * 86_400_000}&to=${t0 + 86_400_000}&tz=Asia/Tokyo`)).json();
    expect(month.range.bucketSeconds).toBe(86_400);
    expect(new Date(month.series.at(-1).t).toISOString()).toMatch(/T15:00:00.000Z$/);
    expect(month.series.reduce((a: number, p: { requests: number }) => a + p.requests, 0)).toBe(100);
  });

  it('filters combine (AND) on every panel; non-route filters on long ranges read raw rows', async () => {
    const range = `from=${t0}&to=${t0 + 600_000}`;
    const mobile5xx = await (await stats(`${range}&device=mobile&status=5xx`)).json();
    // 503 at i % 20 === 0, mobile at i % 3 === 0: i = 0, 60.
    expect(mobile5xx.totals.requests).toBe(2);
    expect(mobile5xx.range.filters).toEqual({ device: 'mobile', status: '5xx' });
    expect(mobile5xx.devices).toEqual([{ key: 'mobile', requests: 2, visitors: 1 }]);
    const fromSearch = await (await stats(`${range}&referrer=search.example&path=${encodeURIComponent('/users/0')}`)).json();
    expect(fromSearch.totals.requests).toBe(await countWhere(`referer = 'https://search.example/' and path = '/users/0'`));
    expect(fromSearch.topPaths.map((p: { key: string }) => p.key)).toEqual(['/users/0']);
    const direct = await (await stats(`${range}&referrer=(direct)`)).json();
    expect(direct.totals.requests).toBe(80);
    const noRoute = await (await stats(`${range}&route=`)).json();
    expect(noRoute.totals.requests).toBe(0);
    const long = await (await stats(`from=${t0 - 2 * 86_400_000}&to=${t0 + 86_400_000}&status=4xx&node=${encodeURIComponent('test-node')}`)).json();
    expect(long.range.source).toBe('raw');
    expect(long.totals.requests).toBe(await countWhere(`status_code between 400 and 499 and node_id = 'test-node'`));
  });

  it("leaves the app's own host out of the referrers (the Host of the stats request, and ownHosts)", async () => {
    const host = new URL(base).host;
    pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(t0 + 1_000), referer: `http://${host}/users/1`, path: '/internal' }));
    await pulse.flush();
    const body = await (await stats(`from=${t0}&to=${t0 + 600_000}`)).json();
    expect(body.referrers.map((r: { key: string }) => r.key)).toEqual(['search.example']);
    expect(body.totals.requests).toBe(101);
    await pulse.db.deleteFrom('pgpulse.request_logs').where('path', '=', '/internal').execute();
  });

  it('recent rows: the newest rows matching the filters (as stats filter), newest first, since `from` when given', async () => {
    const recent = async (query: string) => {
      const response = await fetch(`${base}/api/recent?${query}`, { headers: auth });
      expect(response.status, query).toBe(200);
      return ((await response.json()) as { rows: { id: number; status_code: number; device_type: string; path: string }[] }).rows;
    };
    const newest = async (condition: string, limit: number) =>
      (
        await sql<{ id: string }>`select id from pgpulse.request_logs where ${sql.raw(condition)} order by inserted_at desc, id desc limit ${limit}`.execute(
          pulse.db,
        )
      ).rows.map((r) => Number(r.id));
    const errors = await recent('status=5xx&limit=50');
    expect(errors.map((r) => r.id)).toEqual(await newest('status_code between 500 and 599', 50));
    expect(errors.length).toBe(5);
    const mobile404 = await recent('status=404&device=mobile&limit=3');
    expect(mobile404.map((r) => r.id)).toEqual(await newest(`status_code = 404 and device_type = 'mobile'`, 3));
    expect(mobile404.every((r) => r.path === '/missing')).toBe(true);
    const since = await recent(`path=${encodeURIComponent('/users/3')}&from=${t0 + 300_000}`);
    expect(since.map((r) => r.id)).toEqual(await newest(`path = '/users/3' and inserted_at >= '${new Date(t0 + 300_000).toISOString()}'`, 50));
    expect(since.length).toBeGreaterThan(0);
    expect(await recent('referrer=nowhere.example')).toEqual([]);
    const bad = await fetch(`${base}/api/recent?status=5XX`, { headers: auth });
    expect(bad.status).toBe(400);
    expect((await bad.json()).issues.map((i: { path: string }) => i.path)).toEqual(['status']);
    expect((await fetch(`${base}/api/stream?country=Germany`, { headers: auth })).status).toBe(400);
  });

  it('rejects bad parameters with clear 400 errors', async () => {
    for (const [query, field] of [
      ['from=yesterday', 'from'],
      [`from=${t0}&to=${t0 - 1}`, 'from'],
      [`from=${t0}&tz=Mars/Olympus`, 'tz'],
      [`from=${t0 - 500 * 86_400_000}&to=${t0}`, 'to'],
      [`from=${t0}&status=2XX`, 'status'],
      ['', 'from'],
    ] as const) {
      const response = await stats(query);
      expect(response.status, query).toBe(400);
      const body = await response.json();
      expect(body.error).toBe('invalid stats query');
      expect(body.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
  });

  it('requires the token on every route, including the stream; never takes it from the URL', async () => {
    for (const path of ['/', '/app.js', '/vendor/uPlot.iife.min.js', '/api/stats?from=0', '/api/recent', '/api/stream', '/nope']) {
      expect((await fetch(base + path)).status, path).toBe(401);
      expect((await fetch(base + path, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(401);
      expect((await fetch(`${base}${path}${path.includes('?') ? '&' : '?'}token=${TOKEN}`)).status, `${path} with the token in the URL`).toBe(401);
    }
    const loginPage = await fetch(`${base}/`);
    expect(loginPage.headers.get('set-cookie')).toBeNull();
    const loginHtml = await loginPage.text();
    expect(loginHtml).toContain('<form method="post" action="api/session"');
    expect(loginHtml).not.toContain('not right');
    expect((await fetch(`${base}/style.css`)).status, 'the login form is styled').toBe(200);
    expect(loginPage.headers.get('content-security-policy')).toContain("default-src 'self'");

    const form = (token: string) =>
      fetch(`${base}/api/session`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
    const failed = await form('nope');
    expect(failed.status).toBe(303);
    expect(failed.headers.get('location')).toBe('../?login=failed');
    expect(failed.headers.get('set-cookie')).toBeNull();
    expect(await (await fetch(`${base}/?login=failed`)).text()).toContain('not right');

    const login = await form(TOKEN);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('../');
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^pgpulse_session=\d+\.[\w-]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=604800$/);
    expect(cookie).not.toContain(TOKEN);
    const session = { cookie: cookie.split(';')[0]! };
    expect((await fetch(`${base}/api/recent`, { headers: session })).status).toBe(200);
    expect((await fetch(`${base}/`, { headers: session })).status).toBe(200);
    expect((await fetch(`${base}/api/recent`, { headers: { cookie: `${session.cookie.slice(0, -1)}x` } })).status, 'forged session').toBe(401);
    const json = await fetch(`${base}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(json.status).toBe(204);
    const logout = await fetch(`${base}/api/logout`, { method: 'POST', redirect: 'manual', headers: session });
    expect(logout.headers.get('set-cookie')).toMatch(/^pgpulse_session=; .*Max-Age=0/);
    expect(dashboard.stats.unauthorized).toBeGreaterThanOrEqual(21);
  });

  it('rate-limits wrong tokens per client: 429 with Retry-After for wrong ones, while the right token still works', async () => {
    const limited = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    const limitedServer = createServer(limited.handler);
    const url = await listen(limitedServer);
    try {
      for (let i = 0; i < 10; i++) expect((await fetch(`${url}/api/recent`, { headers: { authorization: `Bearer wrong-${i}` } })).status).toBe(401);
      const refused = await fetch(`${url}/api/recent`, { headers: { authorization: 'Bearer wrong-again' } });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.stats.rateLimited).toBe(1);
      expect((await fetch(`${url}/api/recent`, { headers: auth })).status).toBe(200);
    } finally {
      await limited.close();
      await closeServer(limitedServer);
    }
  });

  it('streams fresh rows as SSE, resumes from Last-Event-ID, unsubscribes on disconnect', async () => {
    const client = await openSse(`${base}/api/stream`, auth);
    expect(client.status).toBe(200);
    await eventually(() => dashboard.stats.clients === 1);
    pulse.pubsub.broadcast(makeLog({ path: '/live/1', ip: '10.1.2.3' }));
    pulse.pubsub.broadcast(makeLog({ path: '/live/2' }));
    await eventually(() => client.events.length === 2, 5_000, 'two events');
    const first = JSON.parse(client.events[0]!.data);
    expect(first.path).toBe('/live/1');
    expect(first).not.toHaveProperty('ip');
    client.close();
    await eventually(() => dashboard.stats.clients === 0, 5_000, 'client removed');

    const flushes = dashboard.stats.flushes;
    pulse.pubsub.broadcast(makeLog({ path: '/live/3' }));
    // Let the hub flush /live/3 (to nobody) so the reconnect has to replay it from the ring.
    await eventually(() => dashboard.stats.events === 3, 5_000, 'third event reached the hub');
    await eventually(() => dashboard.stats.flushes > flushes, 5_000, 'third event flushed');
    const resumed = await openSse(`${base}/api/stream`, { ...auth, 'last-event-id': client.events[1]!.id! });
    await eventually(() => resumed.events.length >= 1, 5_000, 'replayed event');
    expect(JSON.parse(resumed.events[0]!.data).path).toBe('/live/3');
    expect(dashboard.stats.replayed).toBeGreaterThanOrEqual(1);
    resumed.close();
    await eventually(() => dashboard.stats.clients === 0);
  });

  it('drops a client that stops reading instead of buffering without bound', async () => {
    const port = Number(new URL(base).port);
    const socket = netConnect(port, '127.0.0.1');
    socket.write(`GET /api/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    socket.pause();
    await eventually(() => dashboard.stats.clients === 1);
    const big = 'U'.repeat(60_000);
    for (let round = 0; round < 40 && dashboard.stats.slowClientsDropped === 0; round++) {
      for (let i = 0; i < 50; i++) pulse.pubsub.publish(makeLog({ user_agent: big }));
      await new Promise((r) => setTimeout(r, 30));
    }
    await eventually(() => dashboard.stats.slowClientsDropped === 1, 10_000, 'slow client dropped');
    expect(dashboard.stats.clients).toBe(0);
    socket.destroy();
  });

  it('200 SSE clients receive the same stream', async () => {
    const clients = await Promise.all(Array.from({ length: 200 }, () => openSse(`${base}/api/stream`, auth)));
    await eventually(() => dashboard.stats.clients === 200);
    const rows = 2_000;
    const started = Date.now();
    for (let i = 0; i < rows; i++) {
      pulse.pubsub.publish(makeLog({ path: `/fanout/${i}` }));
      // Publish in waves: the next one once every client has the previous one.
      if (i % 200 === 199) {
        const sent = i + 1;
        await eventually(() => clients.every((c) => c.events.filter((e) => e.event === 'request').length >= sent), 30_000, `wave of ${sent} rows`);
      }
    }
    await eventually(() => clients.every((c) => c.events.filter((e) => e.event === 'request').length >= rows), 30_000, 'all clients got all rows');
    console.log(`[dashboard] 200 SSE clients x ${rows} rows delivered in ${Date.now() - started} ms`);
    for (const c of clients) {
      const paths = c.events.filter((e) => e.event === 'request').map((e) => JSON.parse(e.data).path as string);
      expect(paths.at(-1)).toBe(`/fanout/${rows - 1}`);
    }
    clients.forEach((c) => c.close());
    await eventually(() => dashboard.stats.clients === 0);
  }, 60_000);

  it('cancels a stats query after statsTimeoutMs and reports it (503, counter, event)', async () => {
    const slow = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, statsTimeoutMs: 300 });
    const errors: Error[] = [];
    slow.on('queryError', ({ error }) => errors.push(error));
    const slowServer = createServer(slow.handler);
    const url = await listen(slowServer);
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table pgpulse.request_logs in access exclusive mode');
      const response = await fetch(`${url}/api/stats?from=${t0}&to=${t0 + 60_000}`);
      expect(response.status).toBe(503);
      expect((await response.json()).error).toMatch(/statement timeout/);
      expect(slow.stats.queryErrors).toBe(1);
      expect(errors[0]?.message).toMatch(/statement timeout/);
    } finally {
      await locker.query('rollback');
      await locker.end();
      await slow.close();
      await closeServer(slowServer);
    }
  });

  it('never redirects to another host (targets such as //evil.example)', async () => {
    const port = Number(new URL(base).port);
    const raw = (path: string) =>
      new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, headers: auth }, (res) => {
          res.resume();
          resolve({ status: res.statusCode!, location: res.headers.location });
        })
          .on('error', reject)
          .end();
      });
    for (const path of ['//evil.example', '//evil.example?x=1', '/\\evil.example', '///evil.example']) {
      const { status, location } = await raw(path);
      if (location !== undefined)
        expect(new URL(location, `http://127.0.0.1:${port}${path.startsWith('//') ? '/x' : path}`).host, path).toBe(`127.0.0.1:${port}`);
      expect(location ?? '', path).not.toMatch(/^(\/\/|\/\\|[a-z]+:)/i);
      expect([308, 404], path).toContain(status);
    }
  });

  it('serves under basePath on a bare node:http server', async () => {
    const standalone = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, basePath: '/pgpulse/' });
    const appServer = createServer((req, res) =>
      standalone.handler(req, res, () => {
        res.end('app');
      }),
    );
    const url = await listen(appServer);
    try {
      const redirect = await fetch(`${url}/pgpulse?x=1`, { redirect: 'manual' });
      expect(redirect.status).toBe(308);
      expect(redirect.headers.get('location')).toBe('./pgpulse/?x=1');
      expect((await fetch(`${url}/pgpulse/`)).status).toBe(200);
      expect((await fetch(`${url}/pgpulse/api/recent?limit=1`)).status).toBe(200);
      expect(await (await fetch(`${url}/other`)).text()).toBe('app');
    } finally {
      await standalone.close();
      await closeServer(appServer);
    }
  });

  it('mounts in Express under a path', async () => {
    const app = express();
    const mounted = createDashboard({ db: pulse.db, pubsub: pulse.pubsub });
    app.use('/pgpulse', mounted.handler);
    app.get('/', (_req, res) => void res.send('app home'));
    const appServer = createServer(app);
    const url = await listen(appServer);
    try {
      const redirect = await fetch(`${url}/pgpulse`, { redirect: 'manual' });
      expect(redirect.status).toBe(308);
      expect(redirect.headers.get('location')).toBe('./pgpulse/');
      expect(new URL(redirect.headers.get('location')!, `${url}/pgpulse`).pathname).toBe('/pgpulse/');
      const page = await fetch(`${url}/pgpulse/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>pgpulse');
      expect((await fetch(`${url}/pgpulse/api/recent?limit=5`)).status).toBe(200);
      expect(await (await fetch(`${url}/`)).text()).toBe('app home');
    } finally {
      await mounted.close();
      await closeServer(appServer);
    }
  });

  it('breakdowns and filters by browser, OS, country and node, on raw and rollup ranges (last: adds rows)', async () => {
    const at = t0 + 5 * 3_600_000;
    for (let i = 0; i < 60; i++) {
      pulse.pubsub.broadcast(
        makeLog({
          inserted_at: new Date(at + i * 60_000),
          route: '/dims',
          browser: i % 3 ? 'Chrome' : 'Safari',
          os: i % 2 ? 'macOS' : 'iOS',
          country: i % 4 ? 'DE' : 'JP',
          node_id: i % 5 ? 'node-a' : 'node-b',
          visitor_id: `d${i % 9}`,
        }),
      );
    }
    await pulse.flush();
    // Ten minutes: raw rows, visitors per value; unknown parameters are ignored, the country code in any case.
    const raw = await (await stats(`from=${at}&to=${at + 600_000}&country=de&_=${Date.now()}`)).json();
    expect(raw.range).toMatchObject({ source: 'raw', filters: { country: 'DE' } });
    const germany = await countWhere(
      `country = 'DE' and inserted_at >= '${new Date(at).toISOString()}' and inserted_at < '${new Date(at + 600_000).toISOString()}'`,
    );
    expect(raw.totals.requests).toBe(germany);
    expect(raw.countries).toEqual([{ key: 'DE', requests: germany, visitors: expect.any(Number) as number }]);
    expect(raw.browsers.map((b: { key: string }) => b.key)).toEqual(['Chrome', 'Safari']);
    expect(raw.browsers[0].visitors).toBeGreaterThan(0);
    expect(raw.nodes.map((n: { key: string }) => n.key).sort()).toEqual(['node-a', 'node-b']);
    // An hour: the rollups, exact per value (requests only).
    const hour = await (await stats(`from=${at}&to=${at + 3_600_000}`)).json();
    expect(hour.range.source).toBe('rollups');
    expect(hour.nodes).toEqual([
      { key: 'node-a', requests: 48, visitors: null },
      { key: 'node-b', requests: 12, visitors: null },
    ]);
    expect(hour.operatingSystems).toEqual([
      { key: 'iOS', requests: 30, visitors: null },
      { key: 'macOS', requests: 30, visitors: null },
    ]);
    const chrome = await (await stats(`from=${at}&to=${at + 3_600_000}&browser=Chrome`)).json();
    expect(chrome.range).toMatchObject({ source: 'rollups', filters: { browser: 'Chrome' } });
    expect(chrome.totals.requests).toBe(40);
    expect(chrome.series.reduce((a: number, p: { requests: number }) => a + p.requests, 0)).toBe(40);
    expect(chrome.browsers).toEqual([{ key: 'Chrome', requests: 40, visitors: null }]);
    expect(chrome.countries.map((c: { key: string }) => c.key)).toEqual(['DE', 'JP']);
    const bad = await stats(`from=${at}&to=${at + 3_600_000}&country=Germany`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).issues.map((i: { path: string }) => i.path)).toEqual(['country']);
  });
});

import { createServer, type Server } from 'node:http';
import express from 'express';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import type { ErrorDetail } from '../../src/stats/error-detail.js';
import type { ErrorsAnswer } from '../../src/stats/error-stats.js';
import { HOUR_MS, MINUTE_MS } from '../../src/shared/time.js';
import { connect } from '../../src/store/connection.js';
import { createMigratedTestDatabase, createTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen, send } from '../support/http.js';

const TRACE_URL = 'https://tempo.example/trace/{trace_id}?span={span_id}';
const OLD_FP = '0123456789abcdef';
const OLD_ERROR = { class: 'QueryTimeout', message: 'statement timeout on orders', frames: ['at runQuery (src/db.ts)', 'at listOrders (src/orders.ts)'] };

interface RawRow {
  fingerprint: string;
  route: string;
  status: number;
  at: Date;
}

/**
 * GET /api/errors and /api/errors/<fingerprint> against exact SQL over the raw
 * rows: errors captured by an Express app (errorMiddleware, captureError) and
 * published rows with error fields spread over three days.
 */
describe('dashboard errors API', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let app: Server;
  let appBase: string;
  let server: Server;
  let base: string;
  const now = Date.now();

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({
      connectionString: database.url,
      nodeId: 'errors-api',
      maxWaitMs: 5,
      cubeIntervalMs: 0,
      maintenanceIntervalMs: 0,
      consumer: (req) => (typeof req.headers['x-api-key'] === 'string' ? { id: req.headers['x-api-key'], name: `key ${req.headers['x-api-key']}` } : undefined),
    });
    await pulse.migrate();
    const web = express();
    web.use(pulse.middleware());
    web.get('/orders/:id', (req) => {
      throw new TypeError(`order ${req.params.id} has no customer`);
    });
    web.get('/pay', () => {
      throw new RangeError('amount out of range');
    });
    web.get('/users/:id', (req, res) => {
      pulse.captureError(new Error('user lookup failed'), req);
      res.status(503).send('unavailable');
    });
    web.use(pulse.errorMiddleware());
    web.use((_error: unknown, _req: unknown, res: express.Response, _next: unknown) => void res.status(500).send('error'));
    app = createServer(web);
    appBase = await listen(app);
    // Published rows with error fields, spread over three days: a group first seen 50 hours ago that still happens.
    for (let i = 0; i < 40; i++) {
      const at = new Date(now - 50 * HOUR_MS + Math.floor((i * 50 * HOUR_MS) / 40) + ((i * 7_919) % 59_000));
      pulse.pubsub.publish(
        makeLog({
          inserted_at: at,
          route: i % 3 === 0 ? '/orders' : '/reports/:id',
          path: '/orders',
          status_code: 500,
          error_fingerprint: OLD_FP,
          error: OLD_ERROR,
        }),
      );
    }
    await pulse.flush();
    const traceparent = (i: number) => `00-${(i + 1).toString(16).padStart(32, 'a')}-${(i + 1).toString(16).padStart(16, 'b')}-01`;
    for (let i = 0; i < 7; i++) {
      const headers = { 'x-request-id': `order-${i}`, traceparent: traceparent(i), ...(i % 2 === 0 ? { 'x-api-key': 'acme' } : {}) };
      expect((await send(`${appBase}/orders/${i}`, { headers })).status).toBe(500);
    }
    for (let i = 0; i < 3; i++) expect((await send(`${appBase}/pay`, { headers: { 'x-request-id': `pay-${i}` } })).status).toBe(500);
    for (let i = 0; i < 4; i++) expect((await send(`${appBase}/users/${i}`, { headers: { 'x-request-id': `user-${i}` } })).status).toBe(503);
    expect((await send(`${appBase}/nothing`)).status).toBe(404);
    await pulse.flush();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, traceUrl: TRACE_URL });
    server = createServer(dashboard.handler);
    base = await listen(server);
  });

  afterAll(async () => {
    if (server) await closeServer(server);
    if (app) await closeServer(app);
    await dashboard?.close();
    await pulse?.close();
    await database?.drop();
  });

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the JSON body's type
  const get = async <T>(path: string) => {
    const response = await send(base + path);
    return { status: response.status, body: JSON.parse(response.body) as T };
  };

  /** The raw error rows of `[from, to)` matching `where` (SQL over request_logs). */
  async function rawRows(from: number, to: number, where = sql`true`): Promise<RawRow[]> {
    const result = await sql<RawRow>`
      select error_fingerprint as fingerprint, coalesce(route, '') as route, status_code as status, inserted_at as at from pgpulse.request_logs
      where error_fingerprint is not null and inserted_at >= ${new Date(from)} and inserted_at < ${new Date(to)} and ${where}`.execute(pulse.db);
    return result.rows;
  }

  /** First seen of every fingerprint, over every raw row. */
  async function firstSeen(): Promise<Map<string, number>> {
    const result = await sql<{ fp: string; first: Date }>`
      select error_fingerprint as fp, min(inserted_at) as first from pgpulse.request_logs where error_fingerprint is not null group by 1`.execute(pulse.db);
    return new Map(result.rows.map((r) => [r.fp, r.first.getTime()]));
  }

  /** What /api/errors must answer for these raw rows (counts, last seen, routes, series over the answer's buckets). */
  function expected(rows: RawRow[], buckets: number[], since: number, first: Map<string, number>) {
    const groups = new Map<string, { count: number; lastSeen: number; routes: Map<string, number>; series: number[] }>();
    for (const row of rows) {
      let g = groups.get(row.fingerprint);
      if (!g) groups.set(row.fingerprint, (g = { count: 0, lastSeen: 0, routes: new Map(), series: buckets.map(() => 0) }));
      g.count++;
      g.lastSeen = Math.max(g.lastSeen, row.at.getTime());
      g.routes.set(row.route, (g.routes.get(row.route) ?? 0) + 1);
      const i = buckets.findLastIndex((t) => t <= row.at.getTime());
      g.series[i]!++;
    }
    return [...groups.entries()]
      .map(([fingerprint, g]) => ({
        fingerprint,
        count: g.count,
        lastSeen: new Date(g.lastSeen).toISOString(),
        isNew: first.get(fingerprint)! >= since,
        routes: [...g.routes.entries()]
          .map(([route, count]) => ({ route, count }))
          .sort((a, b) => b.count - a.count || (a.route < b.route ? -1 : 1))
          .slice(0, 5),
        routeCount: g.routes.size,
        series: g.series,
      }))
      .sort((a, b) => b.count - a.count || b.lastSeen.localeCompare(a.lastSeen) || a.fingerprint.localeCompare(b.fingerprint));
  }

  const figures = (answer: ErrorsAnswer) =>
    answer.groups.map(({ fingerprint, count, lastSeen, isNew, routes, routeCount, series }) => ({
      fingerprint,
      count,
      lastSeen,
      isNew,
      routes,
      routeCount,
      series,
    }));

  const cases: { name: string; from: number; to: number; tz?: string; query?: string; where?: ReturnType<typeof sql>; source: 'raw' | 'rollups' }[] = [
    { name: 'the last 10 minutes (raw rows, 10 s buckets)', from: now - 10 * MINUTE_MS, to: now + 5_000, source: 'raw' },
    { name: 'the last hour (minute rollups, raw edges)', from: now - HOUR_MS - 1_234, to: now + 5_000, source: 'rollups' },
    { name: 'three days in UTC (hour rollups)', from: now - 72 * HOUR_MS - 777, to: now + 5_000, source: 'rollups' },
    { name: 'three days in Asia/Kolkata (+05:30: minute rollups)', from: now - 72 * HOUR_MS, to: now + 5_000, tz: 'Asia/Kolkata', source: 'rollups' },
    {
      name: 'a day in Europe/Paris, one route',
      from: now - 24 * HOUR_MS,
      to: now + 5_000,
      tz: 'Europe/Paris',
      query: '&route=%2Freports%2F%3Aid',
      where: sql`route = '/reports/:id'`,
      source: 'rollups',
    },
    { name: 'a day, status 503 (raw rows)', from: now - 24 * HOUR_MS, to: now + 5_000, query: '&status=503', where: sql`status_code = 503`, source: 'raw' },
    {
      name: 'a day, one consumer (raw rows)',
      from: now - 24 * HOUR_MS,
      to: now + 5_000,
      query: '&consumer=acme',
      where: sql`consumer_id = 'acme'`,
      source: 'raw',
    },
  ];

  for (const c of cases) {
    it(`lists the groups of ${c.name} as the raw rows count them`, async () => {
      const tz = c.tz ?? 'UTC';
      const { status, body } = await get<ErrorsAnswer>(`/api/errors?from=${c.from}&to=${c.to}&tz=${encodeURIComponent(tz)}${c.query ?? ''}`);
      expect(status).toBe(200);
      expect(body.range.source).toBe(c.source);
      const stats = await get<{ series: { t: number }[]; range: { bucketSeconds: number } }>(
        `/api/stats?from=${c.from}&to=${c.to}&tz=${encodeURIComponent(tz)}`,
      );
      expect(body.range.bucketSeconds).toBe(stats.body.range.bucketSeconds);
      if (stats.body.series.length > 0) expect(body.buckets).toEqual(stats.body.series.map((p) => p.t));
      const rows = await rawRows(c.from, c.to, c.where);
      expect(rows.length).toBeGreaterThan(0);
      expect(figures(body)).toEqual(expected(rows, body.buckets, c.from, await firstSeen()));
      expect(body.errorCount).toBe(rows.length);
      expect(body.groupCount).toBe(new Set(rows.map((r) => r.fingerprint)).size);
    });
  }

  it('marks groups new since a given instant ("new since yesterday") and lists only those with new=1', async () => {
    const from = now - 72 * HOUR_MS;
    const since = now - 24 * HOUR_MS;
    const all = await get<ErrorsAnswer>(`/api/errors?from=${from}&since=${new Date(since).toISOString()}`);
    expect(all.status).toBe(200);
    const first = await firstSeen();
    const fresh = [...first.entries()].filter(([, t]) => t >= since).map(([fp]) => fp);
    expect(fresh.length).toBe(3);
    expect(
      all.body.groups
        .filter((g) => g.isNew)
        .map((g) => g.fingerprint)
        .sort(),
    ).toEqual(fresh.sort());
    expect(all.body.groups.find((g) => g.fingerprint === OLD_FP)).toMatchObject({ isNew: false, class: 'QueryTimeout' });
    expect(all.body.newCount).toBe(3);
    const onlyNew = await get<ErrorsAnswer>(`/api/errors?from=${from}&since=${since}&new=1`);
    expect(onlyNew.body.groups.map((g) => g.fingerprint).sort()).toEqual(fresh.sort());
    expect(onlyNew.body.groupCount).toBe(3);
    // Without since, new means first seen in the range: the old group is new over four days, not over one.
    const four = await get<ErrorsAnswer>(`/api/errors?from=${now - 96 * HOUR_MS}`);
    expect(four.body.groups.find((g) => g.fingerprint === OLD_FP)?.isNew).toBe(true);
    const limited = await get<ErrorsAnswer>(`/api/errors?from=${from}&limit=2`);
    expect(limited.body.groups).toHaveLength(2);
    expect(limited.body.groupCount).toBe(4);
  });

  it("answers a group's detail: stack, figures and the latest requests as the raw rows hold them, with the trace link template", async () => {
    const from = now - HOUR_MS;
    const list = await get<ErrorsAnswer>(`/api/errors?from=${from}`);
    const order = list.body.groups.find((g) => g.class === 'TypeError')!;
    expect(order).toMatchObject({ count: 7, routes: [{ route: '/orders/:id', count: 7 }], isNew: true });
    const { status, body } = await get<ErrorDetail>(`/api/errors/${order.fingerprint}?from=${from}&examples=5`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ fingerprint: order.fingerprint, class: 'TypeError', count: 7, total: { count: 7 }, traceUrl: TRACE_URL, isNew: true });
    expect(body.message).toMatch(/^order \d has no customer$/);
    expect(body.frames.length).toBeGreaterThan(0);
    expect(body.frames[0]).toMatch(/errors-api\.test\.ts/);
    const raw = await sql<Record<string, unknown>>`
      select inserted_at, method, path, route, status_code, request_id, trace_id, span_id, consumer_id, consumer_name, error->>'message' as message
      from pgpulse.request_logs where error_fingerprint = ${order.fingerprint} order by inserted_at desc, id desc limit 5`.execute(pulse.db);
    expect(
      body.examples.map((e) => ({
        inserted_at: new Date(e.time),
        method: e.method,
        path: e.path,
        route: e.route,
        status_code: e.status,
        request_id: e.requestId,
        trace_id: e.traceId,
        span_id: e.spanId,
        consumer_id: e.consumerId,
        consumer_name: e.consumerName,
        message: e.message,
      })),
    ).toEqual(raw.rows);
    expect(body.examples[0]).toMatchObject({
      requestId: 'order-6',
      path: '/orders/6',
      traceId: '7'.padStart(32, 'a'),
      consumerId: 'acme',
      message: 'order 6 has no customer',
    });
    expect(body.series.reduce((a, b) => a + b, 0)).toBe(7);
    // ?fingerprint= is the same route.
    const same = await get<ErrorDetail>(`/api/errors?fingerprint=${order.fingerprint}&from=${from}&examples=5`);
    expect(same.body.examples).toEqual(body.examples);
  });

  it('finds the latest examples of a long range from the minute rollups, and reads filters from raw rows', async () => {
    const from = now - 72 * HOUR_MS;
    const { body } = await get<ErrorDetail>(`/api/errors/${OLD_FP}?from=${from}&examples=3`);
    const raw = await sql<{
      request_id: string;
    }>`select request_id from pgpulse.request_logs where error_fingerprint = ${OLD_FP} order by inserted_at desc, id desc limit 3`.execute(pulse.db);
    expect(body.examples.map((e) => e.requestId)).toEqual(raw.rows.map((r) => r.request_id));
    expect(body.count).toBe(40);
    expect(body.isNew).toBe(true);
    expect(body.routes).toEqual([
      { route: '/reports/:id', count: 26 },
      { route: '/orders', count: 14 },
    ]);
    const routed = await get<ErrorDetail>(`/api/errors/${OLD_FP}?from=${from}&route=%2Forders&examples=50`);
    expect(routed.body.count).toBe(14);
    expect(routed.body.examples).toHaveLength(14);
    expect(routed.body.examples.every((e) => e.route === '/orders')).toBe(true);
    const rawFiltered = await get<ErrorDetail>(`/api/errors/${OLD_FP}?from=${from}&status=500&examples=2`);
    expect(rawFiltered.body.range.source).toBe('raw');
    expect(rawFiltered.body.examples.map((e) => e.requestId)).toEqual(raw.rows.slice(0, 2).map((r) => r.request_id));
  });

  it('answers 400 with the issues for bad parameters, 404 for an unknown group', async () => {
    const bad = [
      '/api/errors',
      '/api/errors?from=yesterday',
      '/api/errors?from=2000&to=1000',
      `/api/errors?from=${now - 500 * 86_400_000}`,
      `/api/errors?from=${now - HOUR_MS}&limit=0`,
      `/api/errors?from=${now - HOUR_MS}&limit=101`,
      `/api/errors?from=${now - HOUR_MS}&limit=abc`,
      `/api/errors?from=${now - HOUR_MS}&since=soon`,
      `/api/errors?from=${now - HOUR_MS}&status=6xx`,
      `/api/errors?from=${now - HOUR_MS}&tz=Mars%2FOlympus`,
      `/api/errors?from=${now - HOUR_MS}&new=maybe`,
      `/api/errors/not-a-fingerprint?from=${now - HOUR_MS}`,
      `/api/errors/${OLD_FP.toUpperCase()}?from=${now - HOUR_MS}`,
      `/api/errors/${OLD_FP}?from=${now - HOUR_MS}&examples=51`,
      `/api/errors/${OLD_FP}`,
    ];
    for (const path of bad) {
      const { status, body } = await get<{ error: string; issues: { path: string; message: string }[] }>(path);
      expect(status, path).toBe(400);
      expect(body.issues.length, path).toBeGreaterThan(0);
    }
    const issues = (await get<{ issues: { path: string }[] }>(`/api/errors?from=${now - HOUR_MS}&limit=0`)).body.issues;
    expect(issues).toEqual([expect.objectContaining({ path: 'limit' })]);
    expect((await get(`/api/errors/ffffffffffffffff?from=${now - HOUR_MS}`)).status).toBe(404);
    expect((await get(`/api/errors/${OLD_FP}/more?from=${now - HOUR_MS}`)).status).toBe(404);
  });

  it('a failed query answers 503 and counts as a query error', async () => {
    const empty = await createTestDatabase();
    const connection = connect({ connectionString: empty.url, poolSize: 1 }, () => {});
    const broken = createDashboard({ db: connection.db, pubsub: pulse.pubsub });
    const brokenServer = createServer(broken.handler);
    const errors: Error[] = [];
    broken.on('queryError', ({ error }) => errors.push(error));
    try {
      const brokenBase = await listen(brokenServer);
      const response = await send(`${brokenBase}/api/errors?from=${now - HOUR_MS}`);
      expect(response.status).toBe(503);
      expect(JSON.parse(response.body).error).toMatch(/^errors query failed: .*error_/);
      expect((await send(`${brokenBase}/api/errors/${OLD_FP}?from=${now - HOUR_MS}`)).status).toBe(503);
      expect(broken.stats.queryErrors).toBe(2);
      expect(errors).toHaveLength(2);
    } finally {
      await closeServer(brokenServer);
      await broken.close();
      await connection.close();
      await empty.drop();
    }
  });
});

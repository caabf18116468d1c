import { createServer, type Server } from 'node:http';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { catchUpCube } from '../../src/store/cube-catch-up.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { queryEndpoint, SLOWEST_ROWS, SLOWEST_SCAN_ROWS, type EndpointStats } from '../../src/stats/endpoint-stats.js';
import { filterCondition } from '../../src/stats/stats-filters.js';
import { parseStatsParams, type StatsParams } from '../../src/stats/stats-params.js';
import { closeServer, listen } from '../support/http.js';
import { longTailRows } from '../support/long-tail.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const end = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const start = end - 72 * HOUR;
const rows = longTailRows(12_000, { from: start, to: end, seed: 27 });

const parse = (search: Record<string, string>): StatsParams & { route: string } => {
  const parsed = parseStatsParams(new URLSearchParams(search));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params as StatsParams & { route: string };
};

/** Requests and bytes per chart bucket and exact code, from the raw rows by plain SQL (buckets of `size` seconds from local midnight). */
async function exactSeries(db: Kysely<PulseDatabase>, params: StatsParams, size: number) {
  const midnight = sql`(date_trunc('day', ${params.from}::timestamptz at time zone ${params.tz}) at time zone ${params.tz})`;
  const result = await sql<{ t: number; code: string; n: number; bytes: number }>`
    select extract(epoch from date_bin(${`${size} seconds`}::interval, inserted_at, ${midnight}))::float8 * 1000 as t, status_code::text as code,
      count(*)::int as n, sum(coalesce(response_bytes, 0))::float8 as bytes
    from pgpulse.request_logs where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)} group by 1, 2`.execute(db);
  return result.rows;
}

function expectSeries(stats: EndpointStats, exact: { t: number; code: string; n: number; bytes: number }[]) {
  const codes = new Map<number, Record<string, number>>();
  const bytes = new Map<number, number>();
  for (const r of exact) {
    codes.set(r.t, { ...codes.get(r.t), [r.code]: r.n });
    bytes.set(r.t, (bytes.get(r.t) ?? 0) + r.bytes);
  }
  // Every bucket with requests is in the series, with its exact codes and bytes; the other buckets are empty.
  const shown = new Map(stats.series.map((p) => [p.t, p]));
  for (const [t, byCode] of codes) {
    expect(shown.get(t)?.codes, `codes at ${new Date(t).toISOString()}`).toEqual(byCode);
    expect(shown.get(t)?.bytes, `bytes at ${new Date(t).toISOString()}`).toBe(bytes.get(t));
  }
  for (const p of stats.series) if (!codes.has(p.t)) expect(p.requests).toBe(0);
  const totals = new Map<string, number>();
  for (const r of exact) totals.set(r.code, (totals.get(r.code) ?? 0) + r.n);
  expect(Object.fromEntries(stats.codes.map((c) => [c.code, c.requests]))).toEqual(Object.fromEntries(totals));
}

async function expectSlowest(db: Kysely<PulseDatabase>, params: StatsParams, stats: EndpointStats) {
  const result = await sql<{ id: string }>`
    select id from (select id, duration_ms from pgpulse.request_logs where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}
      order by inserted_at desc limit ${SLOWEST_SCAN_ROWS}) n order by duration_ms desc, id desc limit ${SLOWEST_ROWS}`.execute(db);
  expect(stats.slowest.rows.map((r) => r.id)).toEqual(result.rows.map((r) => Number(r.id)));
  const durations = stats.slowest.rows.map((r) => r.duration_ms as number);
  expect(durations).toEqual([...durations].sort((a, b) => b - a));
}

describe('endpoint stats (GET /api/endpoint), against exact SQL over raw rows', () => {
  let pulse: Pulse;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 2_000, maintenanceIntervalMs: 0, cubeIntervalMs: 0, writerMode: 'in-process' });
    for (const row of rows) pulse.pubsub.broadcast(row);
    await pulse.flush();
    expect((await catchUpCube(database.db, { maxHours: 10_000 })).pending).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await pulse.close();
  });

  const ranges = {
    'three days, unaligned': [start + 37 * 60_000 + 5_000, end - 11 * 60_000, 3_600],
    'five hours': [start + 50 * HOUR + 15 * 60_000, start + 55 * HOUR + 15 * 60_000, 3_600],
    'ten minutes (raw rows)': [start + 60 * HOUR + 60_000, start + 60 * HOUR + 11 * 60_000, 10],
  } as const;
  for (const [name, [from, to, size]] of Object.entries(ranges)) {
    for (const filter of [{ route: '/products/:id' }, { route: '/search', status: '2xx' }] as Record<string, string>[]) {
      test(`${name}, ${JSON.stringify(filter)}`, async ({ database }) => {
        const params = parse({ from: String(from), to: String(to), tz: 'Europe/Paris', ...filter });
        // rawRows 0: the cube answers every range over 15 minutes (quiet routes would read raw rows).
        const stats = await queryEndpoint(database.db, params, { rawRows: 0 });
        expect(stats.range.source).toBe(name.includes('raw') ? 'raw' : 'cube');
        expect(stats.range.bucketSeconds).toBe(size);
        expectSeries(stats, await exactSeries(database.db, params, size));
        await expectSlowest(database.db, params, stats);
      });
    }
  }

  test('a quiet route reads raw rows, in the buckets of the range', async ({ database }) => {
    const params = parse({ from: String(start + 5 * HOUR + 60_000), to: String(start + 9 * HOUR), tz: 'Asia/Kolkata', route: '/checkout' });
    const stats = await queryEndpoint(database.db, params);
    expect(stats.range.source).toBe('raw');
    expect(stats.range.bucketSeconds).toBe(300);
    expectSeries(stats, await exactSeries(database.db, params, 300));
  });

  test('the slowest list reads at most the newest 5,000 requests of the range', async ({ database }) => {
    const params = parse({ from: String(start), to: String(end), route: '/' });
    const stats = await queryEndpoint(database.db, params);
    const n = (await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs where route = '/'`.execute(database.db)).rows[0]!.n;
    expect(stats.slowest.scanned).toBe(Math.min(n, SLOWEST_SCAN_ROWS));
    expect(stats.slowest.rows).toHaveLength(SLOWEST_ROWS);
    await expectSlowest(database.db, params, stats);
  });

  test('while the cube lacks the range, the route hour rollups answer status classes (no bytes)', async ({ database }) => {
    const params = parse({ from: String(start + 10 * HOUR), to: String(start + 30 * HOUR), route: '/products/:id' });
    const saved = await sql`select * from pgpulse.cube_buckets`.execute(database.db);
    await sql`create temporary table saved_buckets as select * from pgpulse.cube_buckets`.execute(database.db);
    try {
      await sql`delete from pgpulse.cube_buckets`.execute(database.db);
      const stats = await queryEndpoint(database.db, params, { rawRows: 0 });
      expect(stats.range.source).toBe('rollups');
      const exact = await sql<{ t: number; code: string; n: number }>`
        select extract(epoch from date_trunc('hour', inserted_at))::float8 * 1000 as t, (status_code / 100)::text || 'xx' as code, count(*)::int as n
        from pgpulse.request_logs where inserted_at >= ${params.from} and inserted_at < ${params.to} and route = '/products/:id' group by 1, 2`.execute(
        database.db,
      );
      const byBucket = new Map<number, Record<string, number>>();
      for (const r of exact.rows) byBucket.set(r.t, { ...byBucket.get(r.t), [r.code]: r.n });
      for (const p of stats.series) {
        expect(p.codes).toEqual(byBucket.get(p.t) ?? {});
        expect(p.bytes).toBeNull();
      }
    } finally {
      await sql`insert into pgpulse.cube_buckets select * from saved_buckets`.execute(database.db);
    }
    expect((await sql`select * from pgpulse.cube_buckets`.execute(database.db)).rows).toHaveLength(saved.rows.length);
  });

  describe('over HTTP', () => {
    let dashboard: Dashboard;
    let server: Server;
    let base: string;

    test.beforeAll(async ({ database }) => {
      dashboard = createDashboard({ db: database.db, pubsub: pulse.pubsub });
      server = createServer(dashboard.handler);
      base = await listen(server);
    });

    afterAll(async () => {
      await closeServer(server);
      await dashboard.close();
    });

    test('answers a good query and 400 with the issues for bad ones', async () => {
      const good = await fetch(`${base}/api/endpoint?from=${start}&to=${end}&route=${encodeURIComponent('/products/:id')}`);
      expect(good.status).toBe(200);
      const body = (await good.json()) as EndpointStats;
      expect(body.range.route).toBe('/products/:id');
      expect(body.series.length).toBeGreaterThan(0);
      for (const [query, path] of [
        [`from=${start}`, 'route'],
        [`from=${start}&route=`, 'route'],
        [`route=/x`, 'from'],
        [`from=nope&route=/x`, 'from'],
        [`from=${start}&route=/x&status=6xx`, 'status'],
        [`from=${start}&route=/x&tz=Mars/Olympus`, 'tz'],
      ] as const) {
        const response = await fetch(`${base}/api/endpoint?${query}`);
        expect(response.status, query).toBe(400);
        const issues = ((await response.json()) as { issues: { path: string }[] }).issues;
        expect(
          issues.map((i) => i.path),
          query,
        ).toContain(path);
      }
    });
  });
});

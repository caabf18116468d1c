import { afterAll, describe, expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { catchUpCube } from '../../src/store/cube-catch-up.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import { expectExact } from '../support/exact-stats.js';
import { longTailRows } from '../support/long-tail.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const end = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const start = end - 72 * HOUR;
const rows = longTailRows(15_000, { from: start, to: end, seed: 23 });
// One hour with more distinct paths than an hour keeps (a crawler), so top paths carry a bound.
const crawl = Array.from({ length: 900 }, (_, i) =>
  makeLog({
    inserted_at: new Date(start + 30 * HOUR + i * 1_000),
    path: `/crawl/${i % 450}`,
    route: null,
    status_code: 404,
    device_type: 'bot',
    browser: null,
    os: null,
  }),
);

const filters: Record<string, string>[] = [
  {},
  { browser: 'Safari' },
  { status: '5xx' },
  { status: '404' },
  { country: 'NZ' },
  { route: '' },
  { referrer: 'google.com' },
  { referrer: '(direct)' },
  { device: 'mobile', os: 'iOS' },
  { browser: 'Chrome', country: 'US', status: '2xx' },
  { node: 'node-1', route: '/search' },
];
const ranges = {
  'three days, unaligned (day cells)': [start + 37 * 60_000 + 5_000, end - 11 * 60_000],
  'one day across midnight': [start + 20 * HOUR + 123_456, start + 44 * HOUR + 98_765],
  'five hours': [start + 50 * HOUR + 15 * 60_000, start + 55 * HOUR + 15 * 60_000],
} as const;

describe('stats from the request cube, against exact SQL over raw rows (long-tail data)', () => {
  let pulse: Pulse;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 2_000, maintenanceIntervalMs: 0, cubeIntervalMs: 0, writerMode: 'in-process' });
    for (const row of [...rows, ...crawl]) pulse.pubsub.broadcast(row);
    await pulse.flush();
    const built = await catchUpCube(database.db, { maxHours: 10_000 });
    expect(built.pending).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await pulse.close();
  });

  for (const [name, [from, to]] of Object.entries(ranges)) {
    for (const filter of filters) {
      test(`${name}, ${JSON.stringify(filter)}`, async ({ database }) => {
        const parsed = parseStatsParams(new URLSearchParams({ from: String(from), to: String(to), tz: 'Europe/Paris', ...filter }));
        if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
        const stats = await queryStats(database.db, parsed.params);
        expect(stats.range.source).toBe('cube');
        expect(stats.range.unbuiltHours).toBe(0);
        await expectExact(database.db, parsed.params, stats);
      });
    }
  }

  test('top paths and 404s without filters: exact within the bound shown, and the bound is ≤ 0.5% of the range', async ({ database }) => {
    const [from, to] = ranges['three days, unaligned (day cells)'];
    const parsed = parseStatsParams(new URLSearchParams({ from: String(from), to: String(to) }));
    if (!parsed.ok) throw new Error();
    const stats = await queryStats(database.db, parsed.params);
    const bound = stats.range.topKeysBound!;
    expect(bound).toBeGreaterThan(0);
    expect(bound).toBeLessThanOrEqual(stats.totals.requests * 0.005);
    const { sql } = await import('kysely');
    for (const [list, shown, extra] of [
      ['paths', stats.topPaths, sql`true`],
      ['404s', stats.notFound, sql`status_code = 404`],
    ] as const) {
      expect(shown.length).toBe(10);
      for (const item of shown) {
        const exact = await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs
          where inserted_at >= ${parsed.params.from} and inserted_at < ${parsed.params.to} and path = ${item.key} and ${extra}`.execute(database.db);
        expect(exact.rows[0]!.n - item.requests, `${list} ${item.key}`).toBeGreaterThanOrEqual(0);
        expect(exact.rows[0]!.n - item.requests, `${list} ${item.key}`).toBeLessThanOrEqual(bound);
      }
    }
  });
});

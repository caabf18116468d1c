import { describe, expect } from 'vitest';
import { Writer } from '../../src/writer/writer.js';
import { p95Of, routeWindowTotals, windowTotals } from '../../src/alerts/window-totals.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

/** Window totals (minute rollups inside, raw rows at the edges) against exact SQL over the raw rows. */
describe('alert window totals', () => {
  test('agree with the raw rows for windows with and without whole minutes', async ({ database }) => {
    const writer = new Writer(database.db, { nodeId: 'w', maxWaitMs: 5 });
    const now = Date.now();
    const rows = Array.from({ length: 600 }, (_, i) =>
      makeLog({
        inserted_at: new Date(now - 10 * 60_000 + i * 1_000 + (i % 7) * 13),
        status_code: i % 5 === 0 ? 500 : 200,
        duration_ms: 1 + (i % 50) * 3,
        route: i % 3 === 0 ? '/a' : '/b',
      }),
    );
    for (const row of rows) writer.add(row);
    await writer.flush();
    await writer.close();
    const exact = async (from: Date, to: Date) => {
      const r = await database.pool.query(
        `select count(*)::int as n, (count(*) filter (where status_code >= 500))::int as e,
                percentile_cont(0.95) within group (order by duration_ms) as p95
         from pgpulse.request_logs where inserted_at >= $1 and inserted_at < $2`,
        [from, to],
      );
      return r.rows[0] as { n: number; e: number; p95: number | null };
    };
    for (const [fromAgo, toAgo] of [
      [9 * 60_000 + 17_000, 0],
      [5 * 60_000, 2 * 60_000 + 500],
      [70_000, 20_000],
      [30_000, 10_000],
      [11 * 60_000, 10 * 60_000 + 1],
    ] as const) {
      const from = new Date(now - fromAgo);
      const to = new Date(now - toAgo);
      const totals = await windowTotals(database.db, from, to);
      const want = await exact(from, to);
      expect({ n: totals.requests, e: totals.errors }).toEqual({ n: want.n, e: want.e });
      if (want.p95 === null) expect(p95Of(totals)).toBeNull();
      else expect(Math.abs(p95Of(totals)! - want.p95) / want.p95).toBeLessThan(0.02);
    }
    const from = new Date(now - 4 * 60_000);
    const to = new Date(now);
    const routes = await routeWindowTotals(database.db, from, to, null);
    const byRoute = await database.pool.query(
      `select route, count(*)::int as n, (count(*) filter (where status_code >= 500))::int as e from pgpulse.request_logs
       where inserted_at >= $1 and inserted_at < $2 group by route order by route`,
      [from, to],
    );
    expect(routes.map((r) => ({ route: r.route, n: r.requests, e: r.errors })).sort((x, y) => x.route!.localeCompare(y.route!))).toEqual(
      byRoute.rows.map((r: { route: string; n: number; e: number }) => ({ route: r.route, n: r.n, e: r.e })),
    );
    const one = await routeWindowTotals(database.db, from, to, '/a');
    expect(one.map((r) => r.route)).toEqual(['/a']);
  });
});

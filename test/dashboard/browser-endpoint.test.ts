import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pulse } from '../../src/create-pulse.js';
import { catchUpCube } from '../../src/store/cube-catch-up.js';
import { browserAvailable } from '../support/browser.js';
import { expectNoOverflow, SCREENSHOTS, startDashboardBrowser, VIEWPORTS, type DashboardBrowser } from '../support/dashboard-browser.js';
import { makeLog } from '../support/fixtures.js';

const MINUTE = 60_000;
const ROUTE = '/orders/:id';
const FINGERPRINT = '00112233aabbccdd';

/** The endpoint page of a route, in real Chromium at desktop and phone widths, checked against the stored rows. */
describe.skipIf(!browserAvailable)('dashboard endpoint page (Chromium)', () => {
  let app: DashboardBrowser;
  let pulse: Pulse;

  beforeAll(async () => {
    app = await startDashboardBrowser('browser-endpoint-token');
    pulse = app.pulse;
    const codes = [200, 200, 200, 200, 201, 200, 404, 200, 500, 503, 200, 200];
    // 36 requests of the route in the last 40 minutes (and two days ago, for the week), some by consumers; other routes around them.
    for (let i = 0; i < 36; i++) {
      pulse.pubsub.publish(
        makeLog({
          route: ROUTE,
          path: `/orders/${i}`,
          status_code: codes[i % codes.length],
          duration_ms: 5 + ((i * 37) % 90),
          response_bytes: 500 + i * 10,
          inserted_at: new Date(Date.now() - 40 * MINUTE + i * 60_000),
          ...(i % 3 === 0 ? { consumer_id: 'acme', consumer_name: 'Acme Corp' } : i % 3 === 1 ? { consumer_id: 'globex' } : {}),
          // The 500s raised one error.
          ...(codes[i % codes.length] === 500
            ? { error_fingerprint: FINGERPRINT, error: { class: 'TypeError', message: 'boom', frames: ['at orders (src/orders.ts:1:1)'] } }
            : {}),
        }),
      );
    }
    for (let i = 0; i < 12; i++)
      pulse.pubsub.publish(makeLog({ route: ROUTE, status_code: 200, inserted_at: new Date(Date.now() - 2 * 86_400_000 + i * MINUTE) }));
    for (let i = 0; i < 20; i++) pulse.pubsub.publish(makeLog({ route: '/users/:id', inserted_at: new Date(Date.now() - 30 * MINUTE + i * 30_000) }));
    await pulse.flush();
    await catchUpCube(pulse.db, { maxHours: 10_000 });
  });

  afterAll(() => app?.close());

  const since = (ms: number) => new Date(Date.now() - ms);
  const exactCodes = async (from: Date) =>
    (
      await sql<{ code: string; n: number }>`select status_code::text as code, count(*)::int as n from pgpulse.request_logs
        where route = ${ROUTE} and inserted_at >= ${from} group by 1 order by 2 desc, 1`.execute(pulse.db)
    ).rows.map((r) => [r.code, String(r.n)]);

  for (const [name, width, height] of VIEWPORTS) {
    it(`a click on a top route opens its endpoint page, against the raw rows (${name})`, async () => {
      const { context, page } = await app.open(width, height);
      try {
        await page.goto(`${app.base}/?range=1h`);
        expect(await page.locator('#endpoint').isHidden()).toBe(true);
        await page.locator('#top-routes button.filter', { hasText: ROUTE }).click();
        await page.waitForURL(/route=/);
        expect(new URL(page.url()).searchParams.get('route')).toBe(ROUTE);
        expect(await page.locator('#chips li').allTextContents()).toEqual([`Route: ${ROUTE}×`]);
        await page.locator('#endpoint:not([hidden]) .endpoint-heading h2').waitFor({ timeout: 15_000 });
        expect(await page.locator('.endpoint-heading h2').textContent()).toBe(`Endpoint ${ROUTE}`);

        const hour = since(60 * MINUTE);
        const [total] = (
          await sql<{ n: number; c4: number; c5: number; bytes: number }>`select count(*)::int as n,
            count(*) filter (where status_code between 400 and 499)::int as c4, count(*) filter (where status_code >= 500)::int as c5,
            sum(response_bytes)::int as bytes from pgpulse.request_logs where route = ${ROUTE} and inserted_at >= ${hour}`.execute(pulse.db)
        ).rows;
        const figures = await page.locator('.endpoint-heading dd').allTextContents();
        expect(figures[0]).toBe(String(total!.n));
        expect(figures[2]).toBe(`${((total!.c5 / total!.n) * 100).toFixed(2)}%`);
        expect(figures[3]).toBe(`${((total!.c4 / total!.n) * 100).toFixed(2)}%`);
        expect(figures[5]).toBe(`${(total!.bytes / 1000).toPrecision(3)} KB`);

        // Every exact code, with its requests.
        await expect
          .poll(async () => (await page.locator('#endpoint-status tbody tr').allInnerTexts()).map((t) => t.split('\t').slice(0, 2)), { timeout: 15_000 })
          .toEqual(await exactCodes(hour));
        // Top consumers of the route.
        const consumers = (
          await sql<{ id: string; name: string | null; n: number }>`select consumer_id as id, max(consumer_name) as name, count(*)::int as n
            from pgpulse.request_logs where route = ${ROUTE} and consumer_id is not null and inserted_at >= ${hour} group by 1 order by 3 desc, 1`.execute(
            pulse.db,
          )
        ).rows;
        expect((await page.locator('#endpoint-consumers tbody tr').allInnerTexts()).map((t) => t.split('\t').slice(0, 2))).toEqual(
          consumers.map((c) => [c.name ? `${c.name} (${c.id})` : c.id, String(c.n)]),
        );
        // The slowest requests: the route's, slowest first.
        const slowest = (
          await sql<{ id: string; path: string }>`select id, path from pgpulse.request_logs where route = ${ROUTE} and inserted_at >= ${hour}
            order by duration_ms desc, id desc limit 10`.execute(pulse.db)
        ).rows;
        expect(await page.locator('#endpoint-slowest tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.requestId))).toEqual(
          slowest.map((r) => r.id),
        );
        expect(await page.locator('#endpoint-slowest-caption').textContent()).toMatch(new RegExp(`^\\(the slowest of the newest ${total!.n} requests, since `));
        // The errors hit on the route (GET /api/errors), new in the range.
        const errors = (
          await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs
            where route = ${ROUTE} and error_fingerprint = ${FINGERPRINT} and inserted_at >= ${hour}`.execute(pulse.db)
        ).rows[0]!.n;
        expect(errors).toBeGreaterThan(0);
        await expect
          .poll(async () => (await page.locator('#endpoint-errors tbody tr').allInnerTexts()).map((t) => t.split('\t').slice(0, 2)), { timeout: 15_000 })
          .toEqual([['NEW TypeError: boom', String(errors)]]);
        // Three charts: requests per second, codes (one line per code) and bytes.
        for (const chart of ['rps', 'codes', 'bytes']) await page.locator(`#chart-endpoint-${chart} .u-over`).waitFor();
        const legend = await page.locator('#chart-endpoint-codes .u-legend .u-series .u-label').allTextContents();
        expect(legend.slice(1)).toEqual((await exactCodes(hour)).map(([code]) => code));
        await expectNoOverflow(page, width);
        // The sticky header would cover part of the element's screenshot.
        await page.addStyleTag({ content: 'header { position: static !important; }' });
        await page.addStyleTag({ content: 'header { position: static !important; }' });
        await page.locator('#endpoint').screenshot({ path: `${SCREENSHOTS}h4-endpoint-${name}.png` });
      } finally {
        await context.close();
      }
    });
  }

  it('the week: every code of seven days', async () => {
    const { context, page } = await app.open(1400, 1000);
    try {
      await page.goto(`${app.base}/?range=7d&route=${encodeURIComponent(ROUTE)}`);
      await page.locator('#endpoint:not([hidden]) .endpoint-heading h2').waitFor({ timeout: 15_000 });
      await expect
        .poll(async () => (await page.locator('#endpoint-status tbody tr').allInnerTexts()).map((t) => t.split('\t').slice(0, 2)), { timeout: 15_000 })
        .toEqual(await exactCodes(since(7 * 86_400_000)));
      const response = await page.evaluate(async () => (await fetch(`api/endpoint?from=${Date.now() - 7 * 86_400_000}&route=/orders/:id`)).json());
      // A quiet route: raw rows, in the range's 2-hour buckets.
      expect(response.range.source).toBe('raw');
      expect(await page.locator('#endpoint-codes-caption').textContent()).toBe('(2-hour buckets)');
      await page.addStyleTag({ content: 'header { position: static !important; }' });
      await page.locator('#endpoint').screenshot({ path: `${SCREENSHOTS}h4-endpoint-week-desktop.png` });
    } finally {
      await context.close();
    }
  });
});

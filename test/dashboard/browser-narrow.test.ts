import { sql } from 'kysely';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pulse } from '../../src/create-pulse.js';
import { browserAvailable } from '../support/browser.js';
import { expectNoOverflow, SCREENSHOTS as screenshots, startDashboardBrowser, VIEWPORTS, type DashboardBrowser } from '../support/dashboard-browser.js';
import { makeLog } from '../support/fixtures.js';

const MINUTE = 60_000;
/** A 200-character route pattern, a long path and a long referrer host: what must not widen the page. */
const LONG_ROUTE = `/api/v2/organisations/:organisationId/${'projects/:projectId/'.repeat(8)}`.padEnd(200, 'x');
const LONG_PATH = LONG_ROUTE.replace(/:\w+/g, '1234567890');
const LONG_HOST = `${'subdomain-'.repeat(8)}very-long-referrer.example.com`;

/**
 * Records every uPlot instance the page creates, without code in the page for it: `window.uPlot` is
 * wrapped (a Proxy keeping its statics) the moment the vendor script assigns it.
 */
function recordCharts(): void {
  const w = window as unknown as { uPlot?: unknown; pgpulseTestCharts: { root: HTMLElement; data: unknown[][]; series: { spanGaps?: boolean }[] }[] };
  w.pgpulseTestCharts = [];
  let wrapped: unknown;
  Object.defineProperty(window, 'uPlot', {
    configurable: true,
    get: () => wrapped,
    set(real: new (...args: unknown[]) => object) {
      wrapped = new Proxy(real, {
        construct(target, args) {
          const instance = Reflect.construct(target, args) as (typeof w.pgpulseTestCharts)[number];
          w.pgpulseTestCharts.push(instance);
          return instance;
        },
      });
    },
  });
}

/** The dashboard at a phone's and a desktop's width with long values; empty buckets as gaps in the latency chart. */
describe.skipIf(!browserAvailable)('dashboard at 390 and 1400 px, and chart gaps (Chromium)', () => {
  let app: DashboardBrowser;
  let pulse: Pulse;
  // A fixed 10-minute range (10-second buckets) with traffic in its minute 1 and minute 5 only.
  const from = new Date(Math.floor(Date.now() / MINUTE) * MINUTE - 12 * MINUTE);
  const to = new Date(from.getTime() + 10 * MINUTE);

  beforeAll(async () => {
    app = await startDashboardBrowser('browser-narrow-token');
    pulse = app.pulse;
    for (const minute of [1, 5]) {
      for (let i = 0; i < 12; i++) {
        pulse.pubsub.publish(
          makeLog({
            inserted_at: new Date(from.getTime() + minute * MINUTE + i * 2_500),
            route: i % 3 === 0 ? LONG_ROUTE : '/users/:id',
            path: i % 3 === 0 ? LONG_PATH : `/users/${i}`,
            referer: i % 2 === 0 ? `https://${LONG_HOST}/some/page` : null,
            referer_host: i % 2 === 0 ? LONG_HOST : null,
            node_id: i % 4 === 0 ? 'worker-node-with-a-rather-long-name-01.eu-central-1.internal' : 'node-a',
            duration_ms: 5 + i * 3,
          }),
        );
      }
    }
    await pulse.flush();
  });

  afterAll(() => app?.close());

  async function open(width: number, height: number): Promise<{ page: Page; close: () => Promise<void> }> {
    const { context, page } = await app.open(width, height);
    await context.addInitScript(recordCharts);
    await page.goto(`${app.base}/?from=${from.toISOString()}&to=${to.toISOString()}&tz=UTC`);
    await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe('24');
    await page.locator('#live-table tbody tr').nth(23).waitFor();
    return { page, close: () => context.close() };
  }

  for (const [name, width, height] of VIEWPORTS) {
    it(`fits ${width} px: From/To visible, long values truncated with the full value in a title, the live table scrolls inside itself (${name})`, async () => {
      const { page, close } = await open(width, height);
      try {
        // Taken first, so a failing run still leaves pictures to look at.
        await page.screenshot({ path: `${screenshots}h2-narrow-top-${name}.png` });
        await page.screenshot({ path: `${screenshots}h2-narrow-full-${name}.png`, fullPage: true });
        await page.locator('#live-table').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${screenshots}h2-narrow-live-${name}.png` });
        await page.locator('#referrers').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${screenshots}h2-narrow-tables-${name}.png` });
        await expectNoOverflow(page, width);
        for (const input of ['#range-from', '#range-to', '#custom-range button']) {
          const box = (await page.locator(input).boundingBox())!;
          expect(box.x, input).toBeGreaterThanOrEqual(0);
          expect(box.x + box.width, input).toBeLessThanOrEqual(width);
        }
        // Every cut-off cell (text wider than its box) names its whole value in its title.
        const truncated = await page.evaluate(() =>
          Array.from(document.querySelectorAll<HTMLElement>('main td')).flatMap((td) => {
            const parts = [td, ...Array.from(td.querySelectorAll<HTMLElement>('button.filter'))];
            if (!parts.some((e) => e.scrollWidth > e.clientWidth + 1)) return [];
            // A filter button must cut its own text inside the cell: one sticking out is hidden whole behind the cell's ellipsis.
            const button = td.querySelector<HTMLElement>('button.filter');
            const shown = button ? button.getBoundingClientRect().right <= td.getBoundingClientRect().right && button.clientWidth >= 40 : true;
            return [{ text: td.textContent.trim(), title: td.title, table: td.closest('table')!.id, shown }];
          }),
        );
        const long = truncated.filter((t) => t.text === LONG_ROUTE || t.text === LONG_PATH || t.text === LONG_HOST);
        // The long values are cut off in the route, path, referrer and live tables; each title holds the value.
        expect(new Set(long.map((t) => t.table))).toEqual(new Set(['live-table', 'top-routes', 'slowest-routes', 'top-paths', 'referrers']));
        for (const cell of truncated) {
          expect(cell.title, `${cell.table}: ${cell.text}`).toBe(cell.text);
          expect(cell.shown, `${cell.table}: ${cell.text} shows part of its text`).toBe(true);
        }
        // The live table scrolls sideways inside its own box, which fits the page.
        const scroller = page.locator('#live-table').locator('xpath=..');
        expect(await scroller.evaluate((e) => getComputedStyle(e).overflowX)).toBe('auto');
        const box = (await scroller.boundingBox())!;
        expect(box.x + box.width).toBeLessThanOrEqual(width);
      } finally {
        await close();
      }
    });
  }

  it('leaves the latency lines empty where a bucket had no requests (no line across idle minutes)', async () => {
    const { page, close } = await open(1400, 1000);
    try {
      const latency = await page.evaluate(() => {
        const w = window as unknown as { pgpulseTestCharts: { root: HTMLElement; data: (number | null)[][]; series: { spanGaps?: boolean }[] }[] };
        const chart = w.pgpulseTestCharts.find((c) => c.root.parentElement?.id === 'chart-latency')!;
        return { data: chart.data, spanGaps: chart.series.slice(1).map((s) => s.spanGaps) };
      });
      expect(latency.spanGaps).toEqual([false, false, false]);
      const [xs, p50, p95, p99] = latency.data as [number[], (number | null)[], (number | null)[], (number | null)[]];
      // 10-second buckets over the 10 minutes; the ones with rows are those SQL finds over the raw rows.
      expect(xs).toHaveLength(60);
      const { rows } = await sql<{ t: number }>`select distinct (extract(epoch from date_bin('10 seconds', inserted_at, ${from}::timestamptz)))::float8 as t
        from pgpulse.request_logs where inserted_at >= ${from} and inserted_at < ${to} order by 1`.execute(pulse.db);
      const busy = rows.map((r) => r.t);
      expect(busy).toHaveLength(6);
      for (const series of [p50, p95, p99]) {
        expect(xs.filter((_, i) => series[i] !== null)).toEqual(busy);
        expect(series.filter((v) => v === null)).toHaveLength(54);
      }
      // Between minute 1 and minute 5 the lines are broken: nulls from 1:30 to 5:00.
      const gap = xs.map((x, i) => [x, p99[i]] as const).filter(([x]) => x >= from.getTime() / 1000 + 90 && x < from.getTime() / 1000 + 300);
      expect(gap.length).toBe(21);
      expect(gap.every(([, v]) => v === null)).toBe(true);
      await page.locator('#chart-latency').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${screenshots}h2-gaps-desktop.png` });
    } finally {
      await close();
    }
  });
});

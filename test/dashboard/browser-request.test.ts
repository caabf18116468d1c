import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pulse } from '../../src/create-pulse.js';
import { expandTraceUrl } from '../../src/dashboard/trace-url.js';
import { publicColumnNames } from '../../src/schema/public-row.js';
import { browserAvailable } from '../support/browser.js';
import { expectNoOverflow, SCREENSHOTS, startDashboardBrowser, VIEWPORTS, type DashboardBrowser } from '../support/dashboard-browser.js';
import { makeLog } from '../support/fixtures.js';

const MINUTE = 60_000;
const TRACE_URL = 'https://tempo.example/explore?trace={trace_id}&span={span_id}';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

/** The request detail view and its one-click filters, in real Chromium at desktop and phone widths, checked against the stored rows. */
describe.skipIf(!browserAvailable)('dashboard request detail (Chromium)', () => {
  let app: DashboardBrowser;
  let pulse: Pulse;

  beforeAll(async () => {
    app = await startDashboardBrowser('browser-request-token', { traceUrl: TRACE_URL });
    pulse = app.pulse;
    const at = (i: number) => new Date(Date.now() - 30 * MINUTE + i * 20_000);
    // Visitor v-7 in two sessions (5 + 3 requests), 4 of them by consumer acme; other visitors around.
    for (let i = 0; i < 8; i++)
      pulse.pubsub.publish(
        makeLog({
          visitor_id: 'v-7',
          session_id: i < 5 ? 's-a' : 's-b',
          inserted_at: at(i),
          ...(i % 2 === 0 ? { consumer_id: 'acme', consumer_name: 'Acme Corp' } : {}),
        }),
      );
    for (let i = 0; i < 6; i++)
      pulse.pubsub.publish(makeLog({ visitor_id: `other-${i % 2}`, session_id: `so-${i}`, consumer_id: 'acme', inserted_at: at(10 + i) }));
    // The newest request: a failing one with everything set.
    pulse.pubsub.publish(
      makeLog({
        visitor_id: 'v-7',
        session_id: 's-b',
        consumer_id: 'acme',
        consumer_name: 'Acme Corp',
        consumer_group: 'pro',
        route: '/orders/:id',
        path: '/orders/99',
        status_code: 500,
        duration_ms: 812.5,
        trace_id: TRACE_ID,
        span_id: SPAN_ID,
        attributes: { plan: 'pro', seats: 3 },
        error_fingerprint: '0123456789abcdef',
        error: { class: 'TypeError', message: 'order.total is undefined', frames: ['at total (src/orders.ts:42:7)', 'at handler (src/routes.ts:10:3)'] },
        inserted_at: at(30),
      }),
    );
    await pulse.flush();
  });

  afterAll(() => app?.close());

  const count = async (where: 'visitor_id' | 'session_id' | 'consumer_id', value: string) =>
    (await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs where ${sql.ref(where)} = ${value}`.execute(pulse.db)).rows[0]!.n;

  for (const [name, width, height] of VIEWPORTS) {
    it(`a live-table row opens every stored field, the trace, the consumer and the error; one click filters (${name})`, async () => {
      const { context, page } = await app.open(width, height);
      try {
        await page.goto(`${app.base}/?range=1h`);
        const stored = (await sql<Record<string, unknown>>`select * from pgpulse.request_logs where path = '/orders/99'`.execute(pulse.db)).rows[0]!;
        const first = page.locator('#live-table tbody tr').first();
        await expect.poll(() => first.locator('td').nth(2).textContent(), { timeout: 15_000 }).toBe('/orders/99');
        await first.locator('button.detail').click();
        const dialog = page.locator('#request-detail[open]');
        await dialog.locator('h2', { hasText: 'GET /orders/99' }).waitFor();
        // Every public column of the row, with its stored value; never the raw IP.
        await expect.poll(() => dialog.locator('tr[data-field="error"]').count(), { timeout: 10_000 }).toBe(1);
        const fields = await dialog
          .locator('.fields tr')
          .evaluateAll((rows) => rows.map((r) => [(r as HTMLElement).dataset.field, r.querySelector('td')!.textContent]));
        expect(fields.map(([f]) => f)).toEqual(['id', ...publicColumnNames]);
        expect(fields.map(([f]) => f)).not.toContain('ip');
        const shown = Object.fromEntries(fields);
        expect(shown.id).toBe(String(stored.id));
        expect(shown.request_id).toBe(stored.request_id);
        expect(shown.status_code).toBe('500');
        expect(shown.duration_ms).toBe('812.5');
        expect(shown.inserted_at).toBe((stored.inserted_at as Date).toISOString());
        expect(JSON.parse(shown.attributes)).toEqual(stored.attributes);
        expect(shown.visitor_id).toBe('v-7');
        // Its trace link (the dashboard's traceUrl expanded by the server), consumer and error.
        expect(await dialog.locator('a.trace').getAttribute('href')).toBe(expandTraceUrl(TRACE_URL, TRACE_ID, SPAN_ID));
        expect(await dialog.locator('section', { hasText: 'Consumer' }).locator('p').textContent()).toBe('Acme Corp · id acme · group pro');
        expect(await dialog.locator('p.error').textContent()).toBe('TypeError: order.total is undefined');
        expect(await dialog.locator('pre').textContent()).toBe('at total (src/orders.ts:42:7)\nat handler (src/routes.ts:10:3)');
        expect(await dialog.locator('.request-filters button').allTextContents()).toEqual(['This visitor', 'This consumer', 'This session']);
        await expectNoOverflow(page, width);
        await page.screenshot({ path: `${SCREENSHOTS}h4-request-${name}.png` });

        // One click: the whole page filtered to this visitor (its 9 requests), then this session, then this consumer.
        for (const [label, key, column, value] of [
          ['This visitor', 'visitor', 'visitor_id', 'v-7'],
          ['This session', 'session', 'session_id', 's-b'],
          ['This consumer', 'consumer', 'consumer_id', 'acme'],
        ] as const) {
          if (!(await dialog.count())) {
            await first.locator('button.detail').click();
            await dialog.locator('.request-filters').waitFor();
          }
          await dialog.locator('.request-filters button', { hasText: label }).click();
          await page.waitForURL(new RegExp(`${key}=${value}`));
          expect(await page.locator('#request-detail').evaluate((d) => (d as HTMLDialogElement).open)).toBe(false);
          const n = await count(column, value);
          await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe(String(n));
          await expect.poll(() => page.locator('#live-table tbody tr').count(), { timeout: 15_000 }).toBe(n);
          expect(await page.locator('#chips li').allTextContents()).toEqual([`${label.replace('This ', '').replace(/^./, (c) => c.toUpperCase())}: ${value}×`]);
          await page.locator('#chips button.remove').click();
          await expect.poll(() => page.locator('#filter-bar').isHidden()).toBe(true);
        }
        await page.goto(`${app.base}/?range=1h&visitor=v-7`);
        await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe(String(await count('visitor_id', 'v-7')));
        await page.screenshot({ path: `${SCREENSHOTS}h4-request-visitor-${name}.png` });
      } finally {
        await context.close();
      }
    });
  }

  it('rows drawn before the last script arrives still open the detail view (the first loads wait for every script)', async () => {
    const { context, page } = await app.open(1400, 1000);
    try {
      // request.js held back: the page's first answers come before it unless the page waits for its scripts.
      await context.route('**/request.js', async (route) => {
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await route.continue();
      });
      await page.goto(`${app.base}/?range=1h`);
      const first = page.locator('#live-table tbody tr').first();
      await expect.poll(() => first.locator('td').nth(2).textContent(), { timeout: 15_000 }).toBe('/orders/99');
      await first.locator('button.detail').click({ timeout: 10_000 });
      await page.locator('#request-detail[open] tr[data-field="error"]').waitFor({ timeout: 10_000 });
    } finally {
      await context.close();
    }
  });

  it('the endpoint page slowest requests open the detail view too', async () => {
    const { context, page } = await app.open(1400, 1000);
    try {
      await page.goto(`${app.base}/?range=1h&route=${encodeURIComponent('/orders/:id')}`);
      await page.locator('#endpoint-slowest tbody button.detail').first().click();
      await page.locator('#request-detail[open] tr[data-field="error"]').waitFor({ timeout: 10_000 });
      expect(await page.locator('#request-detail h2').textContent()).toBe('GET /orders/99');
    } finally {
      await context.close();
    }
  });
});

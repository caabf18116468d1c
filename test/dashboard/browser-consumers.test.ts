import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pulse } from '../../src/create-pulse.js';
import { browserAvailable } from '../support/browser.js';
import { expectNoOverflow, SCREENSHOTS, startDashboardBrowser, VIEWPORTS, type DashboardBrowser } from '../support/dashboard-browser.js';
import { makeLog } from '../support/fixtures.js';

const MINUTE = 60_000;

/** The Consumers panel and the consumer page, in real Chromium at desktop and phone widths, checked against the stored rows. */
describe.skipIf(!browserAvailable)('dashboard consumers (Chromium)', () => {
  let app: DashboardBrowser;
  let pulse: Pulse;

  beforeAll(async () => {
    app = await startDashboardBrowser('browser-consumers-token');
    pulse = app.pulse;
    const at = (i: number) => new Date(Date.now() - 30 * MINUTE + i * 20_000);
    const consumer = { consumer_id: 'acme', consumer_name: 'Acme Corp', consumer_group: 'pro' };
    // acme: 14 requests on two routes, 2 of them 500 and 1 a 404; globex: 5; 3 requests without a consumer.
    for (let i = 0; i < 10; i++)
      pulse.pubsub.publish(
        makeLog({
          ...consumer,
          route: '/orders/:id',
          path: `/orders/${i}`,
          status_code: i < 2 ? 500 : i === 2 ? 404 : 200,
          inserted_at: at(i),
          response_bytes: 1000 + i,
        }),
      );
    for (let i = 0; i < 4; i++) pulse.pubsub.publish(makeLog({ ...consumer, route: '/users/:id', inserted_at: at(20 + i), duration_ms: 40 + i }));
    for (let i = 0; i < 5; i++)
      pulse.pubsub.publish(makeLog({ consumer_id: 'globex', consumer_name: 'Globex', consumer_group: 'free', route: '/users/:id', inserted_at: at(40 + i) }));
    for (let i = 0; i < 3; i++) pulse.pubsub.publish(makeLog({ inserted_at: at(60 + i) }));
    await pulse.flush();
  });

  afterAll(() => app?.close());

  /** Per consumer from the raw rows: requests, 4xx, 5xx, bytes, latest name and group. */
  const exact = async () =>
    (
      await sql<{ id: string; name: string; group: string; requests: number; c4: number; c5: number; bytes: number }>`
        select consumer_id as id, (array_agg(consumer_name order by inserted_at desc))[1] as name, (array_agg(consumer_group order by inserted_at desc))[1] as "group",
          count(*)::int as requests, count(*) filter (where status_code between 400 and 499)::int as c4,
          count(*) filter (where status_code >= 500)::int as c5, coalesce(sum(response_bytes), 0)::int as bytes
        from pgpulse.request_logs where consumer_id is not null group by consumer_id order by requests desc, consumer_id`.execute(pulse.db)
    ).rows;

  for (const [name, width, height] of VIEWPORTS) {
    it(`lists the consumers, and a click opens the consumer page under the filter (${name})`, async () => {
      const { context, page } = await app.open(width, height);
      try {
        await page.goto(`${app.base}/?range=1h`);
        const rows = page.locator('#consumers tbody tr');
        await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(2);
        const expected = await exact();
        expect(expected.map((c) => c.id)).toEqual(['acme', 'globex']);
        expect(await page.locator('#consumers-caption').textContent()).toBe('(2)');
        for (const [i, c] of expected.entries()) {
          const cells = await rows.nth(i).locator('td').allTextContents();
          expect(cells.slice(0, 5)).toEqual([`${c.name} (${c.id})`, c.group, String(c.requests), String(c.c4), String(c.c5)]);
          expect(await rows.nth(i).getAttribute('data-consumer')).toBe(c.id);
        }
        expect(await page.locator('#consumer-heading').isHidden()).toBe(true);
        await expectNoOverflow(page, width);
        await page.locator('#consumers-panel').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${SCREENSHOTS}h4-consumers-${name}.png` });

        // The consumer page: filter chip, URL, heading and every card, chart and table under the filter.
        await page.locator('#consumers button.filter', { hasText: 'Acme Corp' }).click();
        await page.waitForURL(/consumer=acme/);
        expect(await page.locator('#chips li').allTextContents()).toEqual(['Consumer: acme×']);
        const acme = expected[0]!;
        await page.locator('#consumer-heading:not([hidden]) h2').waitFor();
        expect(await page.locator('#consumer-heading h2').textContent()).toBe('Consumer Acme Corp');
        expect(await page.locator('#consumer-heading p').textContent()).toMatch(/^id acme · group pro · last seen /);
        const figures = await page.locator('#consumer-heading dd').allTextContents();
        expect(figures.slice(0, 3)).toEqual([
          String(acme.requests),
          `${((acme.c5 / acme.requests) * 100).toFixed(2)}%`,
          `${((acme.c4 / acme.requests) * 100).toFixed(2)}%`,
        ]);
        expect(figures[4]).toBe(`${(acme.bytes / 1000).toPrecision(3)} KB`);
        await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe(String(acme.requests));
        expect(await page.locator('#card-errors').textContent()).toBe(`${((acme.c5 / acme.requests) * 100).toFixed(2)}%`);
        // Top routes of the consumer, against the raw rows.
        const routes = (
          await sql<{ route: string; n: number }>`select route, count(*)::int as n from pgpulse.request_logs where consumer_id = 'acme'
            group by route order by n desc`.execute(pulse.db)
        ).rows;
        await expect
          .poll(async () => (await page.locator('#top-routes tbody tr').allInnerTexts()).map((t) => t.split('\t').slice(0, 2).join(' ')), { timeout: 15_000 })
          .toEqual(routes.map((r) => `${r.route} ${r.n}`));
        // The newest requests are the consumer's only.
        await expect.poll(() => page.locator('#live-table tbody tr').count(), { timeout: 15_000 }).toBe(acme.requests);
        await expectNoOverflow(page, width);
        await page.screenshot({ path: `${SCREENSHOTS}h4-consumer-page-${name}.png`, fullPage: true });

        // Removing the chip leaves the consumer page.
        await page.locator('#chips button.remove').click();
        await expect.poll(() => page.locator('#consumer-heading').isHidden()).toBe(true);
        expect(new URL(page.url()).searchParams.has('consumer')).toBe(false);
        await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe('22');
      } finally {
        await context.close();
      }
    });
  }
});

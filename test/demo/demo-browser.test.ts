import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell, EXPORT_COLUMNS } from '../../src/dashboard/export-rows.js';
import { runDemo, type RunningDemo } from '../../src/demo/run-demo.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/fixtures.js';
import { waitForLive } from '../support/dashboard-browser.js';

/** The README's screenshots are taken here, from the demo's data. */
const screenshots = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

const requestsCard = async (page: Page) => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, ''));

/** Ids of the breakdown tables on the page, in order. */
const breakdownTables = (page: Page) => page.locator('.breakdowns table').evaluateAll((tables) => tables.map((t) => t.id));

/** Text of the filter buttons (first cells) of a breakdown table. */
const firstCells = (page: Page, id: string) => page.locator(`#${id} tbody button.filter`).allTextContents();

describe.runIf(browserAvailable)('npm run demo, driven in headless Chromium', () => {
  let database: TestDatabase;
  let demo: RunningDemo;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // Two hours of history: the 1-hour view has a previous hour to compare with (as on embedded Postgres).
    demo = await runDemo({ databaseUrl: database.url, port: 0, ratePerSecond: 10, historyMinutes: 120, progressIntervalMs: 60_000, log: () => undefined });
    browser = await launchChromium();
    await mkdir(screenshots, { recursive: true });
    await eventually(() => demo.historyRows() > 0, 120_000, 'the demo history');
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => message.type() === 'error' && errors.push(`${message.text()} ${message.location().url}`));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    await database?.drop();
  });

  it('shows live traffic, the comparison with the previous hour and non-trivial breakdowns', async () => {
    await page.goto(demo.dashboardUrl);
    await waitForLive(page);
    await page.locator('#live-table tbody tr').first().waitFor({ timeout: 10_000 });
    await expect.poll(() => requestsCard(page), { timeout: 15_000 }).toBeGreaterThan(10_000);
    // Every card compares with the previous hour, which the history covers.
    for (const id of ['delta-requests', 'delta-visitors', 'delta-errors', 'delta-p95'])
      await expect.poll(() => page.locator(`#${id}`).textContent(), { timeout: 10_000 }).toMatch(/^(?:[▲▼] [\d.]+% vs|= )/);
    // Every panel has several rows: the demo's traffic is varied (it runs one node, though).
    for (const id of await breakdownTables(page))
      await expect.poll(async () => (await firstCells(page, id)).length, { message: id }).toBeGreaterThanOrEqual(id === 'nodes' ? 1 : 2);
    const referrers = await firstCells(page, 'referrers');
    expect(referrers.length).toBeGreaterThanOrEqual(6);
    expect(referrers).toEqual(expect.arrayContaining(['google.com', 'news.ycombinator.com', 'github.com']));
    // Links within the app (a quarter of the demo's referrers) are internal navigation, not referrals.
    expect(referrers).not.toContain('127.0.0.1');
    expect(await firstCells(page, 'devices')).toEqual(expect.arrayContaining(['desktop', 'mobile', 'tablet', 'bot']));
    // Browsers, OS and countries (CF-IPCountry, trusted by the demo app), where the page has those panels.
    const expected = {
      browsers: ['Chrome', 'Safari', 'Firefox', 'Edge'],
      'operating-systems': ['Windows', 'macOS', 'iOS', 'Android'],
      countries: ['United States (US)', 'Germany (DE)', 'India (IN)'], // named by Intl.DisplayNames, with the code
    };
    for (const [id, values] of Object.entries(expected))
      if ((await page.locator(`#${id}`).count()) > 0) expect(await firstCells(page, id), id).toEqual(expect.arrayContaining(values));
    await page.waitForTimeout(1_000); // let the live chart draw a second more for the picture
    await page.screenshot({ path: `${screenshots}dashboard.png`, fullPage: true });
    await page.screenshot({ path: `${screenshots}demo.png` });
  });

  it('each panel downloads the table it shows as CSV', async () => {
    // A fixed range is loaded once, so the tables do not change while they are compared with their CSV.
    // 15 minutes are read from raw rows: visitors are exact (longer ranges estimate top lists from a sample).
    const to = new Date();
    await page.goto(`${demo.dashboardUrl}?from=${new Date(to.getTime() - 900_000).toISOString()}&to=${to.toISOString()}`);
    await page.locator('#top-routes button.filter').first().waitFor({ timeout: 10_000 });
    await page.locator('#stats-source', { hasText: 'exact' }).waitFor();
    // Tall enough that the page does not scroll: the sticky header stays off the panels in the picture.
    await page.setViewportSize({ width: 1400, height: 3_000 });
    await page.locator('.breakdowns').screenshot({ path: `${screenshots}dashboard-breakdowns.png` });
    await page.setViewportSize({ width: 1400, height: 1_000 });
    for (const id of await breakdownTables(page)) {
      const shown = await page.locator(`#${id} tbody tr`).evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.textContent)));
      const headers = await page.locator(`#${id} thead th`).allTextContents();
      const download = page.waitForEvent('download');
      // The panel's CSV button (a table may sit in a scroll box inside its panel).
      await page.locator(`#${id}`).locator('xpath=ancestor::*[contains(concat(" ", @class, " "), " panel ")][1]').locator('button.csv').click();
      const file = await download;
      expect(file.suggestedFilename()).toBe(`pgpulse-${id}.csv`);
      const lines = (await readFile(await file.path(), 'utf8')).split('\r\n');
      expect(lines[0], id).toBe(headers.join(','));
      expect(lines.at(-1), id).toBe('');
      // The same rows as the table, cell by cell with the export's rule (quoted when needed, formulas prefixed).
      expect(lines.slice(1, -1), id).toEqual(shown.map((cells) => cells.map(csvCell).join(',')));
    }
  });

  it('filters by clicking panels, changes the range, overlays the previous period and exports the filtered rows', async () => {
    await page.goto(`${demo.dashboardUrl}?range=1h`);
    await page.locator('#referrers button.filter').first().waitFor({ timeout: 10_000 });
    const unfiltered = await requestsCard(page);
    await page.locator('#referrers button.filter', { hasText: 'news.ycombinator.com' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('referrer')).toBe('news.ycombinator.com');
    await page.locator('#chips li', { hasText: 'Referrer: news.ycombinator.com' }).waitFor();
    await expect.poll(() => requestsCard(page), { timeout: 10_000 }).toBeLessThan(unfiltered / 3);
    const oneFilter = await requestsCard(page);
    expect(oneFilter).toBeGreaterThan(0);
    // The referrers panel now lists only that host.
    await expect.poll(() => firstCells(page, 'referrers')).toEqual(['news.ycombinator.com']);
    await page.locator('#devices button.filter', { hasText: 'mobile' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('device')).toBe('mobile');
    await expect.poll(() => requestsCard(page), { timeout: 10_000 }).toBeLessThan(oneFilter);
    expect(await page.locator('#chips li').count()).toBe(2);
    await expect.poll(() => firstCells(page, 'devices')).toEqual(['mobile']);

    // The filtered rows of the range, from the export links.
    const csvDownload = page.waitForEvent('download');
    await page.locator('#export-csv').click();
    const csv = (await readFile(await (await csvDownload).path(), 'utf8')).trimEnd().split('\n');
    expect(csv[0]!.trim()).toBe(EXPORT_COLUMNS.join(','));
    expect(csv.length).toBeGreaterThan(1);
    const ndjsonDownload = page.waitForEvent('download');
    await page.locator('#export-ndjson').click();
    const rows = (await readFile(await (await ndjsonDownload).path(), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { device_type: string; referer: string });
    expect(rows.every((r) => r.device_type === 'mobile' && r.referer.startsWith('https://news.ycombinator.com/'))).toBe(true);

    // A longer range: the cards follow (the filters stay).
    await page.locator('#ranges button', { hasText: '1 day' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('range')).toBe('24h');
    expect(new URL(page.url()).searchParams.get('device')).toBe('mobile');
    await page.locator('#stats-source', { hasText: '15-minute buckets' }).waitFor({ timeout: 10_000 });
    // Answers arriving out of order: the day's (held back here) come after the hour's and must not overwrite them.
    const held: Route[] = [];
    await page.route('**/api/stats?*', (route) => {
      const url = new URL(route.request().url());
      if (Number(url.searchParams.get('to')) - Number(url.searchParams.get('from')) === 86_400_000) held.push(route);
      else void route.continue();
    });
    await page.locator('#ranges button', { hasText: '7 days' }).click();
    await page.locator('#ranges button', { hasText: '1 day' }).click();
    await expect.poll(() => held.length).toBe(2);
    await page.locator('#ranges button', { hasText: '1 hour' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('range')).toBe('1h');
    await page.locator('#stats-source', { hasText: '1-minute buckets' }).waitFor({ timeout: 10_000 });
    await Promise.all(held.map((route) => route.continue()));
    await Promise.all(held.map(async (route) => (await route.request().response())?.finished()));
    await page.waitForTimeout(300); // a stale answer would be drawn by now
    expect(await page.locator('#stats-source').textContent()).toContain('1-minute buckets');
    await page.unroute('**/api/stats?*');

    await page.locator('#compare').check();
    await expect.poll(() => new URL(page.url()).searchParams.get('compare')).toBe('1');
    await page.locator('#chart-requests .u-legend', { hasText: 'previous period' }).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#delta-requests').textContent(), { timeout: 10_000 }).toMatch(/vs previous period|= previous period/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${screenshots}dashboard-filters.png`, clip: { x: 0, y: 0, width: 1400, height: 560 } });

    // Without filters, the comparison over the whole traffic.
    await page.locator('#clear-filters').click();
    await expect.poll(() => page.locator('#filter-bar').isHidden()).toBe(true);
    await expect.poll(() => requestsCard(page), { timeout: 10_000 }).toBeGreaterThan(oneFilter);
    await page.waitForTimeout(500); // the chart redraws after the stats arrive
    await page.screenshot({ path: `${screenshots}dashboard-comparison.png`, clip: { x: 0, y: 0, width: 1400, height: 880 } });
    expect(errors).toEqual([]);
  });

  it('at phone width: no sideways scrolling, filters still one tap away', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const small = await phone.newPage();
    await small.goto(`${demo.dashboardUrl}?range=1h&compare=1`);
    await small.locator('#top-routes button.filter').first().waitFor({ timeout: 10_000 });
    await expect.poll(() => requestsCard(small), { timeout: 10_000 }).toBeGreaterThan(0);
    const unfiltered = await requestsCard(small);
    await small.locator('#referrers button.filter', { hasText: 'google.com' }).click();
    await small.locator('#chips li', { hasText: 'Referrer: google.com' }).waitFor();
    await expect.poll(() => requestsCard(small), { timeout: 10_000 }).toBeLessThan(unfiltered / 3);
    await expect.poll(() => small.locator('#delta-requests').textContent(), { timeout: 10_000 }).toMatch(/previous period/);
    expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await small.evaluate(() => window.scrollTo(0, 0));
    await small.waitForTimeout(500);
    await small.screenshot({ path: `${screenshots}dashboard-phone.png` });
    await phone.close();
  });
});

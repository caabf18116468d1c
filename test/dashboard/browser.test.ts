import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { waitForLive } from '../support/dashboard-browser.js';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
// The README's screenshots come from the demo's data (test/demo/demo-browser.test.ts); these are for looking at.
const screenshots = fileURLToPath(new URL('../../test-results/', import.meta.url));
const TOKEN = 'browser-token';
const ROUTES = ['/products/:id', '/cart', '/checkout', '/api/search', '/orders/:id'] as const;

/** An hour of plausible history, so the charts and the screenshot show shape. Returns how many rows. */
function seedHistory(pulse: Pulse): number {
  const now = Date.now();
  let n = 0;
  for (let minute = 58; minute >= 2; minute--) {
    const perMinute = 12 + Math.round(10 * Math.sin(minute / 6) + (minute % 7));
    for (let i = 0; i < perMinute; i++, n++) {
      const route = ROUTES[(n * 7 + minute) % ROUTES.length]!;
      const slow = route === '/checkout' ? 4 : 1;
      const status = n % 41 === 0 ? 500 : n % 17 === 0 ? 404 : n % 9 === 0 ? 302 : 200;
      pulse.pubsub.publish(
        makeLog({
          inserted_at: new Date(now - minute * 60_000 + i * 1_000),
          route: status === 404 ? null : route,
          path: status === 404 ? `/old-page-${n % 3}` : route.replace(':id', String((n * 13) % 97)),
          status_code: status,
          duration_ms: slow * (2 + ((n * 37) % 23) + (n % 50 === 0 ? 120 : 0)),
          device_type: n % 5 === 0 ? 'mobile' : n % 23 === 0 ? 'tablet' : n % 31 === 0 ? 'bot' : 'desktop',
          referer: n % 4 === 0 ? ['https://www.google.com/', 'https://news.ycombinator.com/', 'https://github.com/'][n % 3]! : null,
          visitor_id: `visitor-${n % 40}`,
          session_id: `session-${n % 55}`,
          browser: n % 31 === 0 ? null : (['Chrome', 'Safari', 'Firefox', 'Chrome', 'Edge'] as const)[n % 5]!,
          os: n % 31 === 0 ? null : (['Windows', 'iOS', 'Linux', 'macOS', 'Windows'] as const)[n % 5]!,
          country: (['US', 'DE', 'FR', 'JP', 'BR', 'DE', null] as const)[n % 7]!,
        }),
      );
    }
  }
  return n;
}

const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';
const FIREFOX_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** The hour before: fewer requests, so the comparison with the previous period shows change. */
function seedPreviousHour(pulse: Pulse): void {
  const now = Date.now();
  for (let minute = 118; minute >= 62; minute--) {
    for (let i = 0; i < 8; i++) {
      pulse.pubsub.publish(
        makeLog({
          inserted_at: new Date(now - minute * 60_000 + i * 5_000),
          route: ROUTES[(minute + i) % ROUTES.length]!,
          path: '/earlier',
          duration_ms: 3 + (i % 5),
        }),
      );
    }
  }
}

describe.runIf(browserAvailable)('dashboard in headless Chromium', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  let browser: Browser;
  let seeded = 0;
  let sessionCookie = '';
  const countRows = async (condition: string) =>
    (await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs where ${sql.raw(condition)}`.execute(pulse.db)).rows[0]!.n;
  /** A page already signed in. */
  const newPage = async (options: Parameters<Browser['newPage']>[0] = {}) => {
    const page = await browser.newPage(options);
    await page.context().addCookies([{ name: 'pgpulse_session', value: sessionCookie, url: `${base}/pgpulse/`, httpOnly: true, sameSite: 'Strict' }]);
    return page;
  };

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    // One signed session for every page of the test (as the login form sets it).
    sessionCookie = sessionValue(TOKEN);
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    seeded = seedHistory(pulse);
    seedPreviousHour(pulse);
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, flushIntervalMs: 50 });
    const middleware = pulse.middleware();
    // One instrumented app with the dashboard mounted at /pgpulse.
    server = createServer((req, res) => {
      if (req.url === '/pgpulse' || req.url?.startsWith('/pgpulse/') || req.url?.startsWith('/pgpulse?')) {
        Object.assign(req, { originalUrl: req.url, url: req.url.slice('/pgpulse'.length) || '/' });
        return dashboard.handler(req, res);
      }
      middleware(req, res, () => {
        const id = /^\/orders\/(\d+)/.exec(req.url ?? '')?.[1];
        if (id) Object.assign(req, { route: { path: '/orders/:id' } });
        res.statusCode = req.url?.startsWith('/missing') ? 404 : 200;
        res.end('ok');
      });
    });
    base = await listen(server);
    for (let i = 0; i < 60; i++)
      await fetch(`${base}/orders/${i}`, { headers: { 'user-agent': i % 2 ? 'Mozilla/5.0 (iPhone) Mobile' : 'Mozilla/5.0 (X11; Linux)' } });
    await fetch(`${base}/missing`);
    await pulse.flush();
    browser = await launchChromium();
    await mkdir(screenshots, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard.close();
    await closeServer(server);
    await pulse.close();
    await database.drop();
  });

  it('asks for the token once, keeps it in an HttpOnly cookie, never in a URL', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    const response = await page.goto(`${base}/pgpulse`);
    expect(response?.status()).toBe(401);
    await page.fill('#token', 'wrong');
    await page.click('button[type=submit]');
    await page.locator('[role=alert]', { hasText: 'not right' }).waitFor();
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await waitForLive(page);
    expect(new URL(page.url()).pathname).toBe('/pgpulse/');
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'pgpulse_session', httpOnly: true, sameSite: 'Strict', path: '/pgpulse/' });
    expect(cookie!.value).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(urls.filter((u) => u.includes(TOKEN))).toEqual([]);
    await context.close();
  });

  it('loads, renders charts and shows a fresh request within 2 s', async () => {
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await page.goto(`${base}/pgpulse/`);
    await waitForLive(page);
    await expect.poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBe(seeded + 61);
    expect(await page.locator('#top-routes td', { hasText: '/orders/:id' }).count()).toBe(1);
    expect(await page.locator('#not-found td', { hasText: '/missing' }).count()).toBe(1);
    await page.reload();
    await waitForLive(page);
    await page.locator('#top-routes td', { hasText: '/orders/:id' }).waitFor({ timeout: 10_000 });

    const requestId = `browser-${Date.now()}`;
    const sentAt = Date.now();
    await fetch(`${base}/orders/4242?from=browser`, { headers: { 'x-request-id': requestId } });
    await page.locator(`#live-table tr[data-request-id="${requestId}"]`).waitFor({ timeout: 2_000 });
    const shownAfterMs = Date.now() - sentAt;
    console.log(`[dashboard] fresh request visible in the browser after ${shownAfterMs} ms`);
    expect(await page.locator(`#live-table tr[data-request-id="${requestId}"] td`).nth(2).textContent()).toBe('/orders/4242');

    for (const id of ['chart-rps', 'chart-latency', 'chart-requests']) {
      const canvas = page.locator(`#${id} canvas`);
      expect(await canvas.count(), id).toBe(1);
      const painted = await canvas.evaluate((node) => {
        const c = node as HTMLCanvasElement;
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let nonBlank = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) nonBlank++;
        return nonBlank;
      });
      expect(painted, `${id} draws something`).toBeGreaterThan(100);
    }
    // Away and back: each range's answer is drawn (the charts are redrawn with the data of the stats).
    await page.locator('#ranges button', { hasText: '7 days' }).click();
    await expect.poll(() => page.locator('#stats-source').textContent(), { timeout: 10_000 }).not.toContain('1-minute buckets');
    await page.locator('#ranges button', { hasText: '1 hour' }).click();
    await expect.poll(() => page.locator('#stats-source').textContent(), { timeout: 10_000 }).toContain('1-minute buckets');
    await page.screenshot({ path: `${screenshots}dashboard.png`, fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('filters from any panel: chips, URL, combined, removable, restored from a bookmark, applied to the live table', async () => {
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/pgpulse/`);
    await page.locator('#top-routes button.filter', { hasText: '/checkout' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('route')).toBe('/checkout');
    await page.locator('#chips li', { hasText: 'Route: /checkout' }).waitFor();
    const checkoutRows = await countRows(`route = '/checkout' and inserted_at > now() - interval '1 hour'`);
    await expect.poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBe(checkoutRows);
    await expect.poll(async () => page.locator('#top-routes tbody tr').count()).toBe(1);
    await page.locator('#status button.filter', { hasText: '5xx' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('status')).toBe('5xx');
    const both = await countRows(`route = '/checkout' and status_code >= 500 and inserted_at > now() - interval '1 hour'`);
    await expect.poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBe(both);
    expect(await page.locator('#chips li').count()).toBe(2);
    await page.locator('#devices button.filter').first().waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${screenshots}dashboard-filters.png` });
    // A bookmark restores the view.
    await page.reload();
    expect(await page.locator('#chips li').count()).toBe(2);
    // The live table only shows matching rows.
    // The live table only shows matching rows: the server never sends the others.
    await fetch(`${base}/orders/77`, { headers: { 'x-request-id': 'not-matching' } });
    await page
      .locator('#live-table tr[data-request-id="not-matching"]')
      .waitFor({ state: 'attached', timeout: 5_000 })
      .catch(() => undefined);
    expect(await page.locator('#live-table tr[data-request-id="not-matching"]').count()).toBe(0);
    await page.locator('#chips button[aria-label^="Remove filter Route"]').click();
    await expect.poll(() => new URL(page.url()).searchParams.has('route')).toBe(false);
    expect(new URL(page.url()).searchParams.get('status')).toBe('5xx');
    await page.locator('#clear-filters').click();
    await expect.poll(() => page.locator('#filter-bar').isHidden()).toBe(true);
    // Back restores the previous filters.
    await page.goBack();
    await expect.poll(() => new URL(page.url()).searchParams.get('status')).toBe('5xx');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('browser, OS, country and node panels: a click filters the page (chip, URL, numbers, live stream), CSV per panel', async () => {
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/pgpulse/`);
    await page.locator('#browsers button.filter', { hasText: 'Chrome' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#browsers thead th').allTextContents()).toEqual(['Browser', 'Visitors', 'Requests']);
    expect(await page.locator('#operating-systems thead th').allTextContents()).toEqual(['OS', 'Visitors', 'Requests']);
    expect(await page.locator('#nodes thead th').allTextContents()).toEqual(['Node', 'Visitors', 'Requests']);
    await page.locator('#nodes button.filter', { hasText: 'test-node' }).waitFor();
    // Countries by name (Intl.DisplayNames) with their code.
    await page.locator('#countries button.filter', { hasText: 'Germany (DE)' }).waitFor();
    expect(await page.locator('#countries button.filter', { hasText: 'Germany' }).textContent()).toBe('Germany (DE)');
    await page.evaluate(() => document.querySelector('.breakdowns')!.scrollIntoView());
    await page.locator('.breakdowns').screenshot({ path: `${screenshots}dashboard-dimensions.png` });

    // A country panel's CSV is its table.
    const download = page.waitForEvent('download');
    await page.locator('#countries').locator('xpath=..').locator('button.csv').click();
    const csv = (await readFile(await (await download).path(), 'utf8')).split('\r\n');
    expect(csv[0]).toBe('Country,Visitors,Requests');
    expect(csv.some((line) => line.startsWith('Germany (DE),'))).toBe(true);

    // One browser: answered from the dimension rollups (the 1-hour range reads rollups).
    await page.locator('#browsers button.filter', { hasText: 'Chrome' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('browser')).toBe('Chrome');
    await page.locator('#chips li', { hasText: 'Browser: Chrome' }).waitFor();
    const chrome = await countRows(`browser = 'Chrome' and inserted_at > now() - interval '1 hour'`);
    await expect.poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBe(chrome);
    await expect.poll(async () => page.locator('#browsers tbody tr').count()).toBe(1);
    expect(await page.locator('#stats-source').textContent()).toMatch(/from rollups/);

    // The live stream shows only Chrome rows.
    await fetch(`${base}/orders/1?ua=firefox`, { headers: { 'x-request-id': 'live-firefox', 'user-agent': FIREFOX_UA } });
    await fetch(`${base}/orders/1?ua=chrome`, { headers: { 'x-request-id': 'live-chrome', 'user-agent': CHROME_UA } });
    await page.locator('#live-table tr[data-request-id="live-chrome"]').waitFor({ timeout: 5_000 });
    expect(await page.locator('#live-table tr[data-request-id="live-firefox"]').count()).toBe(0);

    // Then a country as well: two filters, exact from raw rows.
    await page.locator('#countries button.filter', { hasText: 'Germany' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('country')).toBe('DE');
    await page.locator('#chips li', { hasText: 'Country: Germany (DE)' }).waitFor();
    const chromeInGermany = await countRows(`browser = 'Chrome' and country = 'DE' and inserted_at > now() - interval '1 hour'`);
    expect(chromeInGermany).toBeGreaterThan(0);
    await expect.poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBe(chromeInGermany);
    await expect.poll(async () => page.locator('#countries tbody tr').count()).toBe(1);
    // Rows without a country (the live requests above) no longer match.
    expect(await page.locator('#live-table tr[data-request-id="live-chrome"]').count()).toBe(0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${screenshots}dashboard-dimension-filters.png` });
    // An OS click replaces nothing: it adds a third chip; a bookmark restores all three.
    await page.locator('#operating-systems button.filter').first().click();
    await expect.poll(() => page.locator('#chips li').count()).toBe(3);
    await page.reload();
    expect(await page.locator('#chips li').count()).toBe(3);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows what it knows: exact codes, 4xx beside 5xx, visitors per value, bytes; the live table filtered on the server (desktop and 390 px)', async () => {
    const newest = async (condition: string) =>
      (
        await sql<{ request_id: string }>`select request_id from pgpulse.request_logs where ${sql.raw(condition)}
          order by inserted_at desc, id desc limit 50`.execute(pulse.db)
      ).rows.map((r) => r.request_id);
    const hour = `inserted_at > now() - interval '1 hour'`;
    // The unfiltered panels over a fixed 10 minutes (read from raw rows: an unaligned hour reads the writer's rollups, which keep classes only).
    const to = Date.now() + 60_000;
    const from = to - 10 * 60_000;
    const range = `inserted_at >= '${new Date(from).toISOString()}' and inserted_at < '${new Date(to).toISOString()}'`;
    for (const [width, height, name] of [
      [1400, 1000, 'dashboard-exact'],
      [390, 844, 'dashboard-exact-phone'],
    ] as const) {
      const page = await newPage({ viewport: { width, height } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // An exact code that none of the 50 newest rows has: the table still shows its newest rows (asked of the server).
      await page.goto(`${base}/pgpulse/?status=500`);
      const expected = await newest('status_code = 500');
      expect(expected.length).toBeGreaterThan(5);
      await expect
        .poll(() => page.locator('#live-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-request-id'))), { timeout: 10_000 })
        .toEqual(expected);
      await waitForLive(page);
      // Live: a 500 shows, a 200 and a 503 never reach the page.
      const live = `live-${width}`;
      pulse.pubsub.publish(makeLog({ request_id: `${live}-200`, status_code: 200 }));
      pulse.pubsub.publish(makeLog({ request_id: `${live}-503`, status_code: 503 }));
      pulse.pubsub.publish(makeLog({ request_id: `${live}-500`, status_code: 500 }));
      await page.locator(`#live-table tr[data-request-id="${live}-500"]`).waitFor({ timeout: 5_000 });
      expect(await page.locator(`#live-table tr[data-request-id^="${live}-"]`).count()).toBe(1);
      await expect
        .poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 })
        .toBe(await countRows(`status_code = 500 and ${hour}`));

      // Unfiltered: codes under their class, 4xx and 5xx per route, visitors per device and node, bytes, numbers as SQL counts them.
      await page.locator('#chips button.remove').first().click();
      await expect.poll(() => new URL(page.url()).searchParams.has('status')).toBe(false);
      await page.goto(`${base}/pgpulse/?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`);
      await expect
        .poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 })
        .toBe(await countRows(range));
      const codes = await sql<{ code: string; n: number; v: number }>`select status_code::text as code, count(*)::int as n, count(distinct visitor_id)::int as v
        from pgpulse.request_logs where ${sql.raw(range)} group by 1`.execute(pulse.db);
      const statusRows = async () =>
        page.locator('#status tbody tr.code').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)));
      const shown = await statusRows();
      expect(shown.length).toBe(codes.rows.length);
      for (const row of codes.rows) expect(shown, row.code).toContainEqual([row.code, row.v.toLocaleString('en-US'), row.n.toLocaleString('en-US')]);
      expect(await page.locator('#status tbody tr:not(.code) td:first-child').allTextContents()).toEqual(expect.arrayContaining(['2xx', '4xx', '5xx']));
      expect(await page.locator('#top-routes thead th').allTextContents()).toEqual(['Route', 'Requests', 'p95 ms', '4xx', '5xx']);
      const routes = await sql<{ route: string; n4: number; n5: number }>`select route, count(*) filter (where status_code between 400 and 499)::int as n4,
        count(*) filter (where status_code >= 500)::int as n5 from pgpulse.request_logs where ${sql.raw(range)} and route is not null group by 1`.execute(
        pulse.db,
      );
      for (const route of routes.rows.filter((r) => ROUTES.includes(r.route as (typeof ROUTES)[number]))) {
        const cells = await page
          .locator('#top-routes tbody tr', {
            has: page.locator('button.filter', { hasText: new RegExp(`^${route.route.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`) }),
          })
          .locator('td')
          .allTextContents();
        expect(cells.slice(3), route.route).toEqual([route.n4.toLocaleString('en-US'), route.n5.toLocaleString('en-US')]);
      }
      const devices = await sql<{
        d: string;
        v: number;
      }>`select device_type as d, count(distinct visitor_id)::int as v from pgpulse.request_logs where ${sql.raw(range)} group by 1`.execute(pulse.db);
      for (const device of devices.rows) {
        const cells = await page.locator('#devices tbody tr', { hasText: device.d }).locator('td').allTextContents();
        expect(cells[1], device.d).toBe(device.v === 0 ? '0' : device.v.toLocaleString('en-US'));
      }
      const bytes = Number(
        (await sql<{ b: string }>`select sum(coalesce(response_bytes, 0))::text as b from pgpulse.request_logs where ${sql.raw(range)}`.execute(pulse.db))
          .rows[0]!.b,
      );
      expect(bytes).toBeGreaterThan(0);
      expect(await page.locator('#card-bytes').textContent()).toMatch(/^[\d.]+ (B|KB|MB)$/);
      expect(await page.locator('#card-throughput').textContent()).toMatch(/\/s over the range$/);
      // Nothing sampled on this range: the caption says exact (or names the rollups it read), never a sample.
      expect(await page.locator('#stats-source').textContent()).not.toMatch(/sample/);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await page.screenshot({ path: `${screenshots}${name}.png`, fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    }
  });

  it('ranges: presets move, a custom from/to stays put, the time zone is selectable and in the URL', async () => {
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    // The page's timers on a clock the test can run forward (time still flows as usual meanwhile).
    await page.clock.install();
    await page.goto(`${base}/pgpulse/?range=24h`);
    expect(await page.locator('#ranges button[aria-pressed="true"]').textContent()).toBe('1 day');
    expect(await page.locator('#tz').inputValue()).toBe(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone));
    const statsCalls: string[] = [];
    page.on('request', (r) => r.url().includes('/api/stats?') && statsCalls.push(r.url()));
    await page.locator('#range-from').fill('2020-01-01T10:00');
    await page.locator('#range-to').fill('2020-01-01T12:00');
    await page.locator('#custom-range button').click();
    await expect.poll(() => new URL(page.url()).searchParams.get('from')).not.toBeNull();
    const url = new URL(page.url());
    expect(url.searchParams.has('range')).toBe(false);
    expect(Date.parse(url.searchParams.get('to')!) - Date.parse(url.searchParams.get('from')!)).toBe(7_200_000);
    await expect.poll(async () => (await page.locator('#card-requests').textContent())?.trim()).toBe('0');
    expect(await page.locator('#ranges button[aria-pressed="true"]').count()).toBe(0);
    statsCalls.length = 0;
    await page.locator('#tz').selectOption('Asia/Tokyo');
    await expect.poll(() => new URL(page.url()).searchParams.get('tz')).toBe('Asia/Tokyo');
    // A fixed range is loaded once (with its previous period) and does not move: no reload in the
    // next minute of the page's clock (a moving range reloads every 5 to 30 s).
    await expect.poll(() => statsCalls.length).toBe(2);
    await page.clock.runFor(60_000);
    await page.evaluate(() => fetch('api/stats?from=0&to=1').then((r) => r.status)); // requests the page made before this one are in statsCalls
    expect(statsCalls.length).toBe(3);
    statsCalls.pop();
    expect(statsCalls.every((u) => new URL(u).searchParams.get('tz') === 'Asia/Tokyo')).toBe(true);
    const fixedFrom = String(Date.parse(url.searchParams.get('from')!));
    expect(statsCalls.every((u) => [fixedFrom, String(Number(fixedFrom) - 7_200_000)].includes(new URL(u).searchParams.get('from') ?? ''))).toBe(true);
    await page.locator('#ranges button', { hasText: '1 hour' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('range')).toBe('1h');
    await page.close();
  });

  it('compares with the previous period on each card and overlays it on the main chart', async () => {
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${base}/pgpulse/?range=1h`);
    await expect.poll(async () => page.locator('#delta-requests').textContent(), { timeout: 10_000 }).toMatch(/[▲▼=] [\d.]+% vs previous period/);
    expect(await page.locator('#delta-p95').textContent()).toMatch(/vs previous period/);
    await page.locator('#compare').check();
    await expect.poll(() => new URL(page.url()).searchParams.get('compare')).toBe('1');
    await page.locator('#chart-requests .u-legend', { hasText: 'previous period' }).waitFor({ timeout: 10_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${screenshots}dashboard-comparison.png`, clip: { x: 0, y: 0, width: 1400, height: 760 } });
    await page.close();
  });

  it('breakdowns: referrers by host, visitors and requests, each panel downloads its table as CSV', async () => {
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${base}/pgpulse/`);
    await page.locator('#referrers button.filter', { hasText: 'news.ycombinator.com' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#referrers thead th').allTextContents()).toEqual(['Host', 'Visitors', 'Requests']);
    expect(await page.locator('#referrers', { hasText: 'https://' }).count()).toBe(0);
    const download = page.waitForEvent('download');
    await page.locator('#top-routes').locator('xpath=..').locator('button.csv').click();
    const file = await download;
    const csv = await readFile(await file.path(), 'utf8');
    expect(csv.split('\r\n')[0]).toBe('Route,Requests,p95 ms,4xx,5xx');
    expect(csv).toContain('/checkout');
    await page.locator('.breakdowns').screenshot({ path: `${screenshots}dashboard-breakdowns.png` });
    await page.close();
  });

  it('works at phone width, by keyboard, with no serious accessibility violations (axe-core)', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true, deviceScaleFactor: 2 });
    await context.addCookies([{ name: 'pgpulse_session', value: sessionCookie, url: `${base}/pgpulse/`, httpOnly: true, sameSite: 'Strict' }]);
    const page = await context.newPage();
    await page.goto(`${base}/pgpulse/`);
    await page.locator('#top-routes button.filter').first().waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // Keyboard: Tab reaches a filter button and Enter applies it.
    await page.locator('#top-routes button.filter').first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => new URL(page.url()).searchParams.has('route')).toBe(true);
    await page.locator('#chips button.remove').first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => new URL(page.url()).searchParams.has('route')).toBe(false);
    await page.addScriptTag({ path: axePath });
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
    });
    console.log(`[dashboard] axe-core violations: ${JSON.stringify(violations)}`);
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
    await page.screenshot({ path: `${screenshots}dashboard-phone.png`, fullPage: false });
    await context.close();
  });

  it('escapes hostile paths and user agents', async () => {
    const page = await newPage();
    await page.goto(`${base}/pgpulse/`);
    await waitForLive(page);
    let alerted = false;
    page.on('dialog', async (dialog) => {
      alerted = true;
      await dialog.dismiss();
    });
    const hostile = '/<img src=x onerror=alert(1)>';
    await fetch(`${base}${encodeURI(hostile)}`, { headers: { 'x-request-id': 'hostile' } }).catch(() => undefined);
    await page.locator('#live-table tr[data-request-id="hostile"]').waitFor({ timeout: 5_000 });
    expect(await page.locator('#live-table img').count()).toBe(0);
    expect(alerted).toBe(false);
    await page.close();
  });

  it('keeps up with 2,000 rows/s: every row counted, the table stays at the newest 100', async () => {
    const page = await newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/pgpulse/`);
    await waitForLive(page);
    const rows = 6_000;
    for (let i = 0; i < rows; i++) {
      pulse.pubsub.publish(makeLog({ path: `/burst/${i}`, request_id: `burst-${i}` }));
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 100));
    }
    await page.locator('#live-table tr[data-request-id="burst-5999"]').waitFor({ timeout: 10_000 });
    await expect
      .poll(async () => Number((await page.locator('#live-count').textContent())?.replace(/\D/g, '')), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(rows);
    expect(await page.locator('#live-table tbody tr').count()).toBe(100);
    expect(await page.locator('#live-table tbody tr').first().getAttribute('data-request-id')).toBe('burst-5999');
    expect(errors).toEqual([]);
    await page.close();
  });
});

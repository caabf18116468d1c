import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';

const screenshots = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
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
        }),
      );
    }
  }
  return n;
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
  /** A page already signed in. */
  const newPage = async (options: Parameters<Browser['newPage']>[0] = {}) => {
    const page = await browser.newPage(options);
    await page.context().addCookies([{ name: 'pgpulse_session', value: sessionCookie, url: `${base}/pgpulse/`, httpOnly: true, sameSite: 'Strict' }]);
    return page;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    // One signed session for every page of the test (as the login form sets it).
    sessionCookie = sessionValue(TOKEN);
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    seeded = seedHistory(pulse);
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
    for (let i = 0; i < 60; i++) await fetch(`${base}/orders/${i}`, { headers: { 'user-agent': i % 2 ? 'Mozilla/5.0 (iPhone) Mobile' : 'Mozilla/5.0 (X11; Linux)' } });
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
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
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
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
    await expect.poll(async () => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBe(seeded + 61);
    expect(await page.locator('#top-routes td', { hasText: '/orders/:id' }).count()).toBe(1);
    expect(await page.locator('#not-found td', { hasText: '/missing' }).count()).toBe(1);
    await page.reload();
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
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
    await page.locator('#ranges button', { hasText: '7 days' }).click();
    await page.waitForTimeout(500);
    await page.locator('#ranges button', { hasText: '1 hour' }).click();
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: `${screenshots}dashboard.png`, fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('escapes hostile paths and user agents', async () => {
    const page = await newPage();
    await page.goto(`${base}/pgpulse/`);
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
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
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
    const rows = 6_000;
    for (let i = 0; i < rows; i++) {
      pulse.pubsub.publish(makeLog({ path: `/burst/${i}`, request_id: `burst-${i}` }));
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 100));
    }
    await page.locator('#live-table tr[data-request-id="burst-5999"]').waitFor({ timeout: 10_000 });
    await expect.poll(async () => Number((await page.locator('#live-count').textContent())?.replace(/\D/g, '')), { timeout: 10_000 }).toBeGreaterThanOrEqual(rows);
    expect(await page.locator('#live-table tbody tr').count()).toBe(100);
    expect(await page.locator('#live-table tbody tr').first().getAttribute('data-request-id')).toBe('burst-5999');
    expect(errors).toEqual([]);
    await page.close();
  });
});

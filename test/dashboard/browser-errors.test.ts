import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import express from 'express';
import { sql } from 'kysely';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { HOUR_MS } from '../../src/shared/time.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen, send } from '../support/http.js';

const screenshots = process.env.PGPULSE_SCREENSHOTS ?? '/work/runs';
const TOKEN = 'browser-errors-token';
const TRACE_URL = 'https://tempo.example/trace/{trace_id}?span={span_id}';
const OLD_FP = 'fedcba9876543210';
const OLD_ERROR = {
  class: 'QueryTimeout',
  message: 'canceling statement due to statement timeout while listing the orders of a very large customer account',
  frames: ['at runQuery (src/db/query.ts:41:11)', 'at listOrders (src/orders/list.ts:88:5)', 'at handler (src/routes/orders.ts:12:3)'],
};

/** The Errors panel and error detail in real Chromium at desktop and phone widths, against SQL over the raw rows. */
describe.skipIf(!browserAvailable)('dashboard errors (Chromium)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let app: Server;
  let server: Server;
  let base: string;
  let browser: Browser;
  const now = Date.now();

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    database = await createMigratedTestDatabase();
    pulse = createPulse({
      connectionString: database.url,
      nodeId: 'browser-errors',
      maxWaitMs: 5,
      cubeIntervalMs: 0,
      maintenanceIntervalMs: 0,
      consumer: (req) => (typeof req.headers['x-api-key'] === 'string' ? { id: req.headers['x-api-key'], name: 'Acme Corp' } : undefined),
    });
    // A group first seen 30 hours ago that still happens: old within a 24 h view.
    for (let i = 0; i < 30; i++) {
      const at = new Date(now - 30 * HOUR_MS + i * HOUR_MS + ((i * 7_919) % 50_000));
      pulse.pubsub.publish(makeLog({ inserted_at: at, route: '/orders', path: '/orders', status_code: 500, error_fingerprint: OLD_FP, error: OLD_ERROR }));
    }
    await pulse.flush();
    const web = express();
    web.use(pulse.middleware());
    web.get('/orders/:id', (req) => {
      throw new TypeError(`order ${req.params.id} has no customer`);
    });
    web.get('/checkout/:step', () => {
      throw new RangeError('amount out of range');
    });
    web.get('/ok', (_req, res) => void res.send('ok'));
    web.use(pulse.errorMiddleware());
    web.use((_error: unknown, _req: unknown, res: express.Response, _next: unknown) => void res.status(500).send('error'));
    app = createServer(web);
    const appBase = await listen(app);
    for (let i = 0; i < 6; i++) {
      const traceparent = `00-${String(i + 1).padStart(32, 'c')}-${String(i + 1).padStart(16, 'd')}-01`;
      await send(`${appBase}/orders/${i}`, { headers: { 'x-request-id': `order-${i}`, traceparent, 'x-api-key': 'acme' } });
    }
    for (let i = 0; i < 2; i++) await send(`${appBase}/checkout/${i === 0 ? 'pay' : 'confirm'}`, { headers: { 'x-request-id': `checkout-${i}` } });
    for (let i = 0; i < 5; i++) await send(`${appBase}/ok`);
    await pulse.flush();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, traceUrl: TRACE_URL });
    server = createServer(dashboard.handler);
    base = await listen(server);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (server) await closeServer(server);
    if (app) await closeServer(app);
    await dashboard?.close();
    await pulse?.close();
    await database?.drop();
  });

  /** Per group over the last 24 hours: count and first seen, from the raw rows. */
  async function rawGroups(): Promise<{ fingerprint: string; class: string; count: number; first: Date }[]> {
    const result = await sql<{ fingerprint: string; class: string; count: number; first: Date }>`
      select r.error_fingerprint as fingerprint, max(r.error->>'class') as class, count(*)::int as count,
        (select min(inserted_at) from pgpulse.request_logs a where a.error_fingerprint = r.error_fingerprint) as first
      from pgpulse.request_logs r where r.error_fingerprint is not null and r.inserted_at >= ${new Date(now - 24 * HOUR_MS)}
      group by 1 order by 3 desc, 1`.execute(pulse.db);
    return result.rows;
  }

  for (const [name, width, height] of [
    ['desktop', 1400, 1000],
    ['phone', 390, 844],
  ] as const) {
    it(`lists the error groups with counts, new marks and routes, and opens a group's detail (${name})`, async () => {
      const context = await browser.newContext({ viewport: { width, height } });
      await context.addCookies([{ name: 'pgpulse_session', value: sessionValue(TOKEN), url: `${base}/`, httpOnly: true, sameSite: 'Strict' }]);
      const page = await context.newPage();
      const failures: string[] = [];
      page.on('pageerror', (error) => failures.push(error.message));
      try {
        await page.goto(`${base}/?range=24h&tz=UTC`);
        const rows = page.locator('#errors tbody tr[data-fingerprint]');
        await rows.nth(2).waitFor();
        const raw = await rawGroups();
        expect(raw.map((g) => g.class)).toEqual(['QueryTimeout', 'TypeError', 'RangeError']);
        const shown = await rows.evaluateAll((trs) =>
          trs.map((tr) => ({
            fingerprint: (tr as HTMLElement).dataset.fingerprint,
            count: Number(tr.querySelector('.count')!.textContent.replace(/\D/g, '')),
            isNew: tr.querySelector('.badge-new') !== null,
            text: tr.querySelector('.error-open')!.textContent,
            routes: tr.querySelector('.error-routes')!.textContent,
            bars: tr.querySelectorAll('svg.spark rect').length,
          })),
        );
        const since = now - 24 * HOUR_MS;
        expect(shown.map(({ fingerprint, count, isNew }) => ({ fingerprint, count, isNew }))).toEqual(
          raw.map((g) => ({ fingerprint: g.fingerprint, count: g.count, isNew: g.first.getTime() >= since })),
        );
        expect(shown.map((s) => s.isNew)).toEqual([false, true, true]);
        expect(shown[0]!.text).toBe(`QueryTimeout: ${OLD_ERROR.message}`);
        expect(shown[1]!.routes).toBe('/orders/:id ×6');
        expect(shown[2]!.routes).toBe('/checkout/:step ×2');
        // The old group happened in 24 different hours of the range: that many bars (15-minute buckets).
        expect(shown[0]!.bars).toBe(24);
        expect(await page.locator('#errors-caption').textContent()).toBe('3 groups, 2 new, 32 occurrences');
        // Nothing wider than the screen.
        await page.locator('#errors-panel').screenshot({ path: `${screenshots}/h3-errors-panel-${name}.png` });
        if (name === 'desktop') await page.screenshot({ path: `${screenshots}/h3-errors-page-${name}.png`, fullPage: true });
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);

        // "New since" the last 7 days: the old group (30 h) is new too.
        await page.locator('#errors-since').selectOption('7d');
        await expect.poll(() => page.locator('#errors tbody .badge-new').count()).toBe(3);
        await page.locator('#errors-since').selectOption('range');
        await expect.poll(() => page.locator('#errors tbody .badge-new').count()).toBe(2);

        // The TypeError group's detail: stack, figures, routes, the latest requests with trace links.
        const order = raw[1]!;
        await rows.nth(1).locator('.error-open').click();
        const detail = page.locator('#error-detail');
        await detail.locator('#error-examples tbody tr').first().waitFor();
        expect(page.url()).toMatch(new RegExp(`#error=${order.fingerprint}$`));
        const group = await sql<{
          frames: string[];
          message: string;
        }>`select frames, message from pgpulse.error_groups where fingerprint = ${order.fingerprint}`.execute(pulse.db);
        expect(await detail.locator('h4').textContent()).toBe(`new TypeError: ${group.rows[0]!.message}`);
        expect(await detail.locator('.stack li').allTextContents()).toEqual(group.rows[0]!.frames);
        expect(group.rows[0]!.frames[0]).toMatch(/browser-errors\.test\.ts/);
        const examples = await sql<{ request_id: string; path: string; trace_id: string; span_id: string }>`
          select request_id, path, trace_id, span_id from pgpulse.request_logs where error_fingerprint = ${order.fingerprint}
          order by inserted_at desc, id desc limit 10`.execute(pulse.db);
        const exampleRows = detail.locator('#error-examples tbody tr');
        expect(await exampleRows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.requestId))).toEqual(examples.rows.map((r) => r.request_id));
        const newest = examples.rows[0]!;
        expect(newest.request_id).toBe('order-5');
        expect(await exampleRows.first().locator('.path').textContent()).toBe('/orders/5');
        const link = exampleRows.first().locator('a.trace');
        expect(await link.getAttribute('href')).toBe(`https://tempo.example/trace/${newest.trace_id}?span=${newest.span_id}`);
        expect(newest.trace_id).toBe('6'.padStart(32, 'c'));
        if (name === 'desktop') expect(await exampleRows.first().locator('.consumer').textContent()).toBe('Acme Corp');
        expect(await detail.locator('.figures dd').first().textContent()).toBe(String(order.count));
        expect(await detail.locator('.error-route-list li').allTextContents()).toEqual(['/orders/:id ×6']);
        await detail.screenshot({ path: `${screenshots}/h3-error-detail-${name}.png` });
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);

        // A route of the detail filters the page; the list follows the filter.
        await detail.locator('.error-route-list button.filter').click();
        await expect.poll(() => new URL(page.url()).searchParams.get('route')).toBe('/orders/:id');
        await expect.poll(() => rows.count()).toBe(1);
        expect(await rows.first().getAttribute('data-fingerprint')).toBe(order.fingerprint);
        await detail.locator('.error-detail-head button').click();
        expect(await detail.isHidden()).toBe(true);
        expect(failures).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }
});

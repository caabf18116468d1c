import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import express from 'express';
import { sql } from 'kysely';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { expandTraceUrl } from '../../src/dashboard/trace-url.js';
import { publicColumnNames } from '../../src/schema/public-row.js';
import { HOUR_MS } from '../../src/shared/time.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen, send } from '../support/http.js';

const screenshots = process.env.PGPULSE_SCREENSHOTS ?? '/work/runs';
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
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

  /** axe-core over one part of the page: its serious and critical violations (with the nodes' selectors). */
  async function axeViolations(page: Page, selector: string): Promise<{ id: string; impact: string; nodes: string[] }[]> {
    const violations = await page.evaluate(async (include) => {
      type Result = { violations: { id: string; impact: string; nodes: { target: string[] }[] }[] };
      const result = await (window as unknown as { axe: { run: (context: unknown) => Promise<Result> } }).axe.run({ include: [include] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
    }, selector);
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }

  /** What the request dialog shows of a stored row: each field as request.js writes it. */
  function shownValue(v: unknown): string {
    if (v === null) return 'null';
    if (v instanceof Date) return v.toISOString();
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return JSON.stringify(v);
  }

  /** Per group over the last 24 hours: count and first seen, from the raw rows. */
  async function rawGroups(): Promise<{ fingerprint: string; class: string; count: number; first: Date }[]> {
    const result = await sql<{ fingerprint: string; class: string; count: number; first: Date }>`
      select r.error_fingerprint as fingerprint, max(r.error->>'class') as class, count(*)::int as count,
        (select min(inserted_at) from pgpulse.request_logs a where a.error_fingerprint = r.error_fingerprint) as first
      from pgpulse.request_logs r where r.error_fingerprint is not null and r.inserted_at >= ${new Date(now - 24 * HOUR_MS)}
      group by 1 order by 3 desc, 1`.execute(pulse.db);
    return result.rows;
  }

  /**
   * The newest example of the TypeError group opens the request dialog: every stored field equal to the
   * row read with plain SQL, its trace link, consumer and error; each one-click filter applies from there.
   */
  async function checkRequestDialog(page: Page, name: string, fingerprint: string): Promise<void> {
    const stored = (await sql<Record<string, unknown>>`select * from pgpulse.request_logs where request_id = 'order-5'`.execute(pulse.db)).rows;
    expect(stored).toHaveLength(1);
    const row = stored[0]!;
    const examples = page.locator('#error-examples tbody tr');
    const dialog = page.locator('#request-detail[open]');
    const openNewest = async () => {
      await examples.first().locator('button.detail').click();
      // The stored row has come (the example itself has no row id).
      await dialog.locator('.fields tr[data-field="id"]').waitFor({ timeout: 10_000 });
    };
    await openNewest();
    const fields = await dialog
      .locator('.fields tr')
      .evaluateAll((trs) => trs.map((tr) => [(tr as HTMLElement).dataset.field!, tr.querySelector('td')!.textContent]));
    expect(fields.map(([f]) => f)).toEqual(['id', ...publicColumnNames]);
    expect(Object.fromEntries(fields)).toEqual(Object.fromEntries(['id', ...publicColumnNames].map((column) => [column, shownValue(row[column])])));
    expect(await dialog.locator('h2').textContent()).toBe('GET /orders/5');
    expect(await dialog.locator('a.trace').getAttribute('href')).toBe(expandTraceUrl(TRACE_URL, row.trace_id as string, row.span_id as string));
    expect(await dialog.locator('section', { hasText: 'Consumer' }).locator('p').textContent()).toBe('Acme Corp · id acme');
    const error = row.error as { class: string; message: string; frames: string[] };
    expect(await dialog.locator('p.error').textContent()).toBe(`TypeError: ${error.message}`);
    expect(error.message).toBe('order 5 has no customer');
    expect(await dialog.locator('pre').textContent()).toBe(error.frames.join('\n'));
    const filters = [
      ['This visitor', 'visitor', 'visitor_id'],
      ['This consumer', 'consumer', 'consumer_id'],
      ['This session', 'session', 'session_id'],
    ] as const;
    expect(await dialog.locator('.request-filters button').allTextContents()).toEqual(
      filters.filter(([, , column]) => row[column] !== null).map(([label]) => label),
    );
    expect(row.visitor_id).not.toBeNull();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(page.viewportSize()!.width);
    await page.screenshot({ path: `${screenshots}/h3-error-request-${name}.png` });
    expect(await axeViolations(page, '#request-detail')).toEqual([]);

    // One click: the page (the error detail's examples too) filtered to this visitor, consumer, session.
    for (const [label, key, column] of filters) {
      const value = row[column] as string | null;
      if (value === null) continue;
      if (!(await dialog.count())) await openNewest();
      await dialog.locator('.request-filters button', { hasText: label }).click();
      await expect.poll(() => new URL(page.url()).searchParams.get(key)).toBe(value);
      expect(await page.locator('#request-detail').evaluate((d) => (d as HTMLDialogElement).open)).toBe(false);
      // The list holds the groups this value hit in the range, the detail (still open) its requests with this error.
      const exact = (
        await sql<{ n: number; groups: number }>`select count(*) filter (where error_fingerprint = ${fingerprint})::int as n,
          count(distinct error_fingerprint)::int as groups from pgpulse.request_logs
          where ${sql.ref(column)} = ${value} and inserted_at >= ${new Date(now - 24 * HOUR_MS)}`.execute(pulse.db)
      ).rows[0]!;
      expect(exact.n).toBeGreaterThan(0);
      await expect.poll(() => page.locator('#errors tbody tr[data-fingerprint]').count(), { timeout: 10_000 }).toBe(exact.groups);
      await expect.poll(() => examples.count(), { timeout: 10_000 }).toBe(Math.min(10, exact.n));
      await page.locator('#chips button.remove').click();
      await expect.poll(() => page.locator('#filter-bar').isHidden()).toBe(true);
    }
    await expect.poll(() => page.locator('#errors tbody tr[data-fingerprint]').count()).toBe(3);
  }

  for (const [name, width, height] of [
    ['desktop', 1400, 1000],
    ['phone', 390, 844],
  ] as const) {
    it(`lists the error groups with counts, new marks and routes, and opens a group's detail (${name})`, async () => {
      const context = await browser.newContext({ viewport: { width, height }, bypassCSP: true });
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

        // Accessibility of the panel and the detail: the stack block and the example table scroll, so the
        // keyboard reaches them and they have names; the "new since" picker has a name; axe finds nothing serious.
        for (const box of ['.stack', '.scroll']) {
          expect(await detail.locator(box).first().getAttribute('tabindex')).toBe('0');
          expect(await detail.locator(box).first().getAttribute('aria-label')).toBeTruthy();
        }
        expect(await detail.locator('.stack').getAttribute('aria-label')).toBe('Stack frames');
        expect(await page.locator('#errors-since').getAttribute('aria-label')).toBe('Errors marked new');
        await page.addScriptTag({ path: axePath });
        expect(await axeViolations(page, '#errors-panel')).toEqual([]);

        await checkRequestDialog(page, name, order.fingerprint);

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

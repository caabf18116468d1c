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

const screenshots = fileURLToPath(new URL('../../test-results/', import.meta.url));
const TOKEN = 'browser-releases-token';
const MINUTE = 60_000;

/** Release markers on the range charts and "compare around a release", in real Chromium at desktop and phone widths. */
describe.skipIf(!browserAvailable)('dashboard releases (Chromium)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  let browser: Browser;
  const now = Date.now();
  const v1 = new Date(now - 40 * MINUTE);
  const v2 = new Date(now - 20 * MINUTE);

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, release: false, maxWaitMs: 5, cubeIntervalMs: 0 });
    // v1 on one node, v2 on two (deployed when the first of them ran it).
    await sql`insert into pgpulse.releases (release, node_id, first_seen) values
      ('v1', 'node-a', ${v1}), ('v2', 'node-a', ${v2}), ('v2', 'node-b', ${new Date(v2.getTime() + MINUTE)})`.execute(pulse.db);
    // 30 requests in the 20 minutes before v2, 40 after it (10 of them failing).
    for (let i = 0; i < 30; i++) pulse.pubsub.publish(makeLog({ inserted_at: new Date(v2.getTime() - (i + 1) * 30_000) }));
    for (let i = 0; i < 40; i++)
      pulse.pubsub.publish(makeLog({ inserted_at: new Date(v2.getTime() + (i + 1) * 25_000), status_code: i % 4 === 0 ? 500 : 200 }));
    await pulse.flush();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    server = createServer(dashboard.handler);
    base = await listen(server);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await closeServer(server);
    await dashboard?.close();
    await pulse?.close();
    await database?.drop();
  });

  const count = async (from: Date, to: Date) =>
    (await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs where inserted_at >= ${from} and inserted_at < ${to}`.execute(pulse.db))
      .rows[0]!.n;

  for (const [name, width, height] of [
    ['desktop', 1400, 1000],
    ['phone', 390, 844],
  ] as const) {
    it(`marks each release on the range charts and compares the periods around one (${name})`, async () => {
      const context = await browser.newContext({ viewport: { width, height } });
      await context.addCookies([{ name: 'pgpulse_session', value: sessionValue(TOKEN), url: `${base}/`, httpOnly: true, sameSite: 'Strict' }]);
      const page = await context.newPage();
      try {
        await page.goto(`${base}/?range=1h`);
        for (const chart of ['#chart-requests', '#chart-latency']) {
          const markers = page.locator(`${chart} .release-marker`);
          await markers.nth(1).waitFor();
          expect(await markers.evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.release))).toEqual(['v1', 'v2']);
          expect(await markers.nth(1).getAttribute('title')).toMatch(/^release v2, deployed .+ \(2 nodes\)$/);
          // v1 (40 min ago) left of v2 (20 min ago), both inside the plot.
          const [x1, x2] = await markers.evaluateAll((nodes) => nodes.map((n) => n.getBoundingClientRect().left));
          const plot = (await page.locator(`${chart} .u-over`).boundingBox())!;
          expect(x1).toBeGreaterThan(plot.x);
          expect(x2).toBeGreaterThan(x1!);
          expect(x2).toBeLessThan(plot.x + plot.width);
        }
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await page.locator('#chart-requests').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${screenshots}releases-${name}.png` });

        // Compare around v2: the 20 minutes since it, against the 20 minutes before it.
        await page.selectOption('#release-compare', 'v2');
        await page.waitForURL(/compare=1/);
        const search = new URL(page.url()).searchParams;
        expect(search.get('from')).toBe(v2.toISOString());
        expect(search.has('range')).toBe(false);
        const to = new Date(search.get('to')!);
        const side = to.getTime() - v2.getTime();
        // As long as the time since v2 (shorter than the hour the view showed), up to the click.
        expect(side).toBeGreaterThanOrEqual(20 * MINUTE);
        expect(side).toBeLessThanOrEqual(Date.now() - v2.getTime());
        expect(await page.locator('#compare').isChecked()).toBe(true);
        const after = await count(v2, to);
        const before = await count(new Date(v2.getTime() - side), v2);
        expect(after).toBe(40);
        await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe(String(after));
        expect(before).toBe(30);
        const change = `${after > before ? '▲' : '▼'} ${Math.abs(((after - before) / before) * 100).toFixed(1)}% vs previous period`;
        await expect.poll(() => page.locator('#delta-requests').textContent(), { timeout: 15_000 }).toBe(change);
        await expect.poll(() => page.locator('#chart-requests .u-legend').textContent(), { timeout: 15_000 }).toContain('previous period');
        await page.screenshot({ path: `${screenshots}releases-compare-${name}.png` });
      } finally {
        await context.close();
      }
    });
  }
});

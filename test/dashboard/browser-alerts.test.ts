import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
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
const TOKEN = 'browser-alerts-token';

/** The Alerts view and the header badge in real Chromium, at desktop and phone widths. */
describe.skipIf(!browserAvailable)('dashboard Alerts view (Chromium)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({
      connectionString: database.url,
      release: 'v42',
      maxWaitMs: 5,
      cubeIntervalMs: 0,
      alertIntervalMs: 3_600_000,
      alerts: [
        { kind: 'errorRate', name: 'checkout-errors', route: '/checkout', threshold: 0.1, minRequests: 1 },
        { kind: 'p95', name: 'slow', thresholdMs: 500 },
      ],
    });
    await pulse.migrate();
    for (let i = 0; i < 5; i++) pulse.pubsub.publish(makeLog({ route: '/checkout', path: '/checkout', status_code: 500 }));
    await pulse.flush();
    await pulse.alerts!.evaluate();
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

  for (const [name, width, height] of [
    ['desktop', 1400, 1000],
    ['phone', 390, 844],
  ] as const) {
    it(`shows the firing alert in the header and the rules, states and history (${name})`, async () => {
      const context = await browser.newContext({ viewport: { width, height } });
      await context.addCookies([{ name: 'pgpulse_session', value: sessionValue(TOKEN), url: `${base}/`, httpOnly: true, sameSite: 'Strict' }]);
      const page = await context.newPage();
      try {
        await page.goto(`${base}/`);
        const badge = page.locator('#alerts-badge');
        await badge.waitFor({ state: 'visible' });
        expect(await badge.textContent()).toBe('1 alert firing: checkout-errors');
        await page.locator('#alert-states tr.firing').waitFor();
        expect(await page.locator('#alert-states tbody tr').first().innerText()).toMatch(/FIRING\s+checkout-errors\s+\/checkout\s+100\.0%.*v42/s);
        expect(await page.locator('#alert-rules tbody tr').allInnerTexts()).toEqual([
          expect.stringMatching(/checkout-errors\s+errorRate \(\/checkout\)\s+10%\s+5 min/) as unknown as string,
          expect.stringMatching(/slow\s+p95\s+500 ms\s+5 min/) as unknown as string,
        ]);
        expect(await page.locator('#alert-history tbody tr').count()).toBe(1);
        // Nothing wider than the viewport.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await page.locator('#alerts').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${screenshots}alerts-${name}.png`, fullPage: false });
      } finally {
        await context.close();
      }
    });
  }

  it('redraws the alerts as soon as the live stream pushes a transition, without waiting for the 10 s refresh', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.addCookies([{ name: 'pgpulse_session', value: sessionValue(TOKEN), url: `${base}/`, httpOnly: true, sameSite: 'Strict' }]);
    const page = await context.newPage();
    try {
      await page.clock.install();
      await page.goto(`${base}/`);
      const badge = page.locator('#alerts-badge');
      await badge.waitFor({ state: 'visible' });
      expect(await badge.textContent()).toBe('1 alert firing: checkout-errors');
      await page.locator('#live.on').waitFor();
      // From here on the page's timers stand still: only the pushed alert event can redraw the badge.
      await page.clock.pauseAt((await page.evaluate(() => Date.now())) + 100);
      for (let i = 0; i < 20; i++) pulse.pubsub.publish(makeLog({ route: '/report', path: '/report', duration_ms: 2_000 }));
      await pulse.flush();
      await pulse.alerts!.evaluate();
      await page.locator('#alerts-badge', { hasText: '2 alerts firing' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('#alert-states tr.firing').count()).toBe(2);
    } finally {
      await context.close();
    }
  });
});

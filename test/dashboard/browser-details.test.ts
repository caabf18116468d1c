import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { waitForLive } from '../support/dashboard-browser.js';

const TOKEN = 'browser-details-token';

/** Dashboard details in real Chromium: deep links through sign-in. */
describe.skipIf(!browserAvailable)('dashboard details (Chromium)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 5, cubeIntervalMs: 0 });
    await pulse.migrate();
    for (let i = 0; i < 3; i++) pulse.pubsub.publish(makeLog({ route: '/checkout', path: '/checkout', inserted_at: new Date(Date.now() - 60_000) }));
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

  it('signing in lands on the shared link with its range and filters, also after a wrong token', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      const link = `${base}/?range=5m&route=%2Fcheckout&status=2xx`;
      expect((await page.goto(link))?.status()).toBe(401);
      await page.fill('#token', 'wrong');
      await page.click('button[type=submit]');
      await page.locator('[role=alert]', { hasText: 'not right' }).waitFor();
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await waitForLive(page);
      const landed = new URL(page.url());
      expect(landed.pathname).toBe('/');
      expect(landed.searchParams.get('range')).toBe('5m');
      expect(landed.searchParams.get('route')).toBe('/checkout');
      expect(landed.searchParams.get('status')).toBe('2xx');
      expect(landed.searchParams.has('login')).toBe(false);
      expect(await page.locator('#ranges button[aria-pressed=true]').textContent()).toBe('5 min');
      expect(await page.locator('#chips li').allInnerTexts()).toEqual([
        expect.stringContaining('/checkout') as unknown as string,
        expect.stringContaining('2xx') as unknown as string,
      ]);
    } finally {
      await context.close();
    }
  });

  it('never redirects a sign-in anywhere but the dashboard page (no open redirect)', async () => {
    const login = async (returnTo: string) => {
      const response = await fetch(`${base}/api/session`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
        body: new URLSearchParams({ token: TOKEN, return: returnTo }).toString(),
      });
      expect(response.status).toBe(303);
      return response.headers.get('location');
    };
    for (const crafted of [
      '//evil.example',
      '//evil.example/?range=5m',
      'https://evil.example/?range=5m',
      '/\\evil.example',
      '/elsewhere?range=5m',
      'javascript:alert(1)',
    ])
      expect(await login(crafted)).toBe('../');
    expect(await login('?range=5m&route=/a')).toBe('../?range=5m&route=%2Fa');
    // A query cannot climb out either: it is re-encoded, and `../?…` resolves to the page itself.
    const location = (await login('?x=//evil.example&y=%0d%0aSet-Cookie:a'))!;
    expect(new URL(location, `${base}/api/session`).origin).toBe(base);
    expect(new URL(location, `${base}/api/session`).pathname).toBe('/');
    expect(location).not.toMatch(/[\r\n]/);
  });
});

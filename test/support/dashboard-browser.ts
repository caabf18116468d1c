import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { launchChromium } from './browser.js';
import { createMigratedTestDatabase, type TestDatabase } from './database.js';
import { closeServer, listen } from './http.js';

/** Where the dashboard view tests write their screenshots (looked at by whoever changes the page). */
export const SCREENSHOTS = process.env.PGPULSE_SCREENSHOTS ?? '/work/runs/';

/**
 * Waits for a page to show it is live (the `#live.on` indicator: its first rows
 * loaded and the SSE stream open). Setup, not a claim: the stream opens after
 * the page's first loads, which on a loaded CI machine (embedded Postgres
 * shared with the other test files) took more than 10 s; what a test checks
 * about live rows comes after this.
 */
export async function waitForLive(page: Page): Promise<void> {
  await page.locator('#live.on').waitFor({ timeout: 30_000 });
}

/** The widths every view is checked at. */
export const VIEWPORTS = [
  ['desktop', 1400, 1000],
  ['phone', 390, 844],
] as const;

/** A migrated database, a pulse writing to it, a token-protected dashboard on it, and Chromium. */
export interface DashboardBrowser {
  pulse: Pulse;
  base: string;
  /** A signed-in page of the given size; close its context when done. */
  open(width: number, height: number): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export async function startDashboardBrowser(token: string, options: Partial<DashboardOptions> = {}): Promise<DashboardBrowser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const database: TestDatabase = await createMigratedTestDatabase();
  const pulse = createPulse({ connectionString: database.url, release: false, maxWaitMs: 5, cubeIntervalMs: 0 });
  const dashboard: Dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token, ...options });
  const server: Server = createServer(dashboard.handler);
  const base = await listen(server);
  const browser: Browser = await launchChromium();
  return {
    pulse,
    base,
    async open(width, height) {
      const context = await browser.newContext({ viewport: { width, height } });
      await context.addCookies([{ name: 'pgpulse_session', value: sessionValue(token), url: `${base}/`, httpOnly: true, sameSite: 'Strict' }]);
      return { context, page: await context.newPage() };
    },
    async close() {
      await browser.close();
      await closeServer(server);
      await dashboard.close();
      await pulse.close();
      await database.drop();
    },
  };
}

/** The page fits its width: nothing scrolls sideways. */
export async function expectNoOverflow(page: Page, width: number): Promise<void> {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
}

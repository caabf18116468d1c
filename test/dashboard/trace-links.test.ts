import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { startDashboardServer, type DashboardServer } from '../../src/dashboard/start-dashboard-server.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';
import { waitForLive } from '../support/dashboard-browser.js';

const TEMPLATE = 'https://tempo.example/explore?trace={trace_id}&span={span_id}';
const link = (traceId: string, spanId: string) => `https://tempo.example/explore?trace=${traceId}&span=${spanId}`;

describe('trace URL template (traceUrl)', () => {
  it.each([
    ['no {trace_id}', 'https://tempo.example/trace/'],
    ['javascript:', 'javascript:alert(1)//{trace_id}'],
    ['data:', 'data:text/html,{trace_id}'],
    ['relative', '/trace/{trace_id}'],
    ['not a URL', 'https://exa mple/{trace_id}'],
  ])('refuses %s at creation, with a clear error', (_name, traceUrl) => {
    expect(() => createDashboard({ db: undefined as never, pubsub: undefined as never, traceUrl })).toThrow(/^pgpulse dashboard: traceUrl must /);
  });
});

describe.runIf(browserAvailable)('trace links in the live table (headless Chromium)', () => {
  let pulse: Pulse;
  let dashboard: DashboardServer;
  let browser: Browser;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20, maintenanceIntervalMs: 0 });
    pulse.pubsub.publish(makeLog({ path: '/recent-traced', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' }));
    pulse.pubsub.publish(makeLog({ path: '/recent-untraced' }));
    await pulse.flush();
    dashboard = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, port: 0, traceUrl: TEMPLATE, flushIntervalMs: 20 });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await pulse?.close();
  });

  it('links a recent row and a live row with a trace id to the expanded template, and rows without one to nothing', async () => {
    const page = await browser.newPage();
    await page.goto(dashboard.url);
    const row = (path: string) => page.locator('#live-table tbody tr', { has: page.locator(`button[title="${path}"], td[title="${path}"]`) });
    await waitForLive(page);
    await expect.poll(() => page.locator('#live-table tbody tr').count()).toBe(2);
    expect(await row('/recent-traced').locator('a.trace').getAttribute('href')).toBe(link('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7'));
    expect(await row('/recent-untraced').locator('a.trace').count()).toBe(0);
    pulse.pubsub.publish(makeLog({ path: '/live-traced', trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331' }));
    const live = row('/live-traced').locator('a.trace');
    await live.waitFor({ timeout: 10_000 });
    expect(await live.getAttribute('href')).toBe(link('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'));
    expect(await live.getAttribute('rel')).toBe('noopener noreferrer');
    await page.close();
  });
});

import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { startDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';

const artifacts = fileURLToPath(new URL('../../test-results/', import.meta.url));

/** Rows just inside and just outside each local-day edge the tests pick. */
const EDGES = [
  // Asia/Kolkata (+05:30): 2026-03-01 00:00 local is 2026-02-28 18:30 UTC.
  '2026-02-28T18:29:59Z',
  '2026-02-28T18:30:00Z',
  '2026-03-01T18:29:59Z',
  '2026-03-01T18:30:00Z',
  // America/New_York, clocks forward on 2026-03-08 (a 23-hour day: 05:00Z to 04:00Z).
  '2026-03-08T04:59:59Z',
  '2026-03-08T05:00:00Z',
  '2026-03-09T03:59:59Z',
  '2026-03-09T04:00:00Z',
  // America/New_York, clocks back on 2026-11-01 (a 25-hour day: 04:00Z to 05:00Z).
  '2026-11-01T03:59:59Z',
  '2026-11-01T04:00:00Z',
  '2026-11-02T04:59:59Z',
  '2026-11-02T05:00:00Z',
] as const;

interface StatsCall {
  from: number;
  to: number;
  tz: string | null;
}

/** Every `/api/stats` request the page makes, as instants. */
function recordStatsCalls(page: Page): StatsCall[] {
  const calls: StatsCall[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.endsWith('/api/stats'))
      calls.push({ from: Number(url.searchParams.get('from')), to: Number(url.searchParams.get('to')), tz: url.searchParams.get('tz') });
  });
  return calls;
}

const requestsCard = async (page: Page) => Number((await page.locator('#card-requests').textContent())?.replace(/\D/g, ''));

describe.runIf(browserAvailable)('dashboard ranges in headless Chromium (custom from/to in the selected time zone)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let server: DashboardServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** A page in a browser whose own time zone is `timezoneId`. */
  const newPage = async (timezoneId: string) => {
    const context = await browser.newContext({ timezoneId, viewport: { width: 1400, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    return { page, errors };
  };
  /** Types a custom range into the picker and applies it. */
  const applyCustom = async (page: Page, from: string, to: string) => {
    await page.locator('#range-from').fill(from);
    await page.locator('#range-to').fill(to);
    await page.locator('#custom-range button[type=submit]').click();
  };

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    for (const at of EDGES) pulse.pubsub.publish(makeLog({ inserted_at: new Date(at), path: `/edge/${at}` }));
    await pulse.flush();
    server = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, port: 0 });
    browser = await launchChromium();
    await mkdir(artifacts, { recursive: true });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.close();
    await pulse?.close();
    await database?.drop();
  });

  it('defaults to the browser time zone; a preset is a "now" range that keeps moving', async () => {
    const { page, errors } = await newPage('Asia/Tokyo');
    const calls = recordStatsCalls(page);
    await page.goto(`${server.url}?range=5m`);
    expect(await page.locator('#tz').inputValue()).toBe('Asia/Tokyo');
    expect(await page.locator('#tz option:checked').textContent()).toBe('Asia/Tokyo (browser)');
    // Two loads of the 5-minute preset (it refreshes every 5 s): same length, later end.
    // (Each load also asks for the previous period, which ends where the range starts.)
    const ranges = () => calls.filter((c) => c.to - c.from === 300_000 && !calls.some((d) => d.from === c.to));
    await expect.poll(() => ranges().length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const [first, second] = ranges();
    expect(second!.to).toBeGreaterThan(first!.to);
    expect(first!.tz).toBe('Asia/Tokyo');
    expect(new URL(page.url()).searchParams.has('tz')).toBe(false);
    expect(errors).toEqual([]);
  });

  it('+05:30: a custom day entered in the picker is a day of the selected zone, not of the browser; it stays put and survives a reload', async () => {
    const { page, errors } = await newPage('America/Los_Angeles');
    const calls = recordStatsCalls(page);
    await page.goto(`${server.url}?range=1h&tz=Asia/Kolkata`);
    const kolkata = await page.locator('#tz').inputValue();
    expect(['Asia/Kolkata', 'Asia/Calcutta']).toContain(kolkata);
    await applyCustom(page, '2026-03-01T00:00', '2026-03-02T00:00');
    const from = Date.parse('2026-02-28T18:30:00Z');
    const to = Date.parse('2026-03-01T18:30:00Z');
    await expect.poll(() => calls.some((c) => c.from === from && c.to === to && c.tz === kolkata)).toBe(true);
    // The previous period is the day before, in the same zone.
    expect(calls.some((c) => c.from === from - 86_400_000 && c.to === from)).toBe(true);
    const url = new URL(page.url());
    expect([url.searchParams.get('from'), url.searchParams.get('to'), url.searchParams.has('range')]).toEqual([
      '2026-02-28T18:30:00.000Z',
      '2026-03-01T18:30:00.000Z',
      false,
    ]);
    // Only the two rows inside that local day: 18:30:00Z and 18:29:59Z the next day.
    await expect.poll(() => requestsCard(page)).toBe(2);
    expect(await page.locator('#range-from').inputValue()).toBe('2026-03-01T00:00');
    expect(await page.locator('#range-to').inputValue()).toBe('2026-03-02T00:00');
    expect(await page.locator('#custom-range').getAttribute('class')).toContain('active');

    // A week: the 2-hour chart buckets start at local midnight (18:30Z, 20:30Z, …), not at UTC hours.
    const week = page.waitForResponse((r) => r.url().includes('/api/stats?') && r.url().includes(`to=${Date.parse('2026-03-07T18:30:00Z')}`));
    await applyCustom(page, '2026-03-01T00:00', '2026-03-08T00:00');
    const stats = (await (await week).json()) as { range: { bucketSeconds: number }; series: { t: number }[] };
    expect(stats.range.bucketSeconds).toBe(7_200);
    expect(stats.series[0]!.t).toBe(from);
    expect(stats.series.every((p) => (p.t - from) % 7_200_000 === 0)).toBe(true);
    expect(stats.series).toHaveLength(84);

    // Back to the day: a fixed range is loaded once and does not move; a reload restores it.
    await page.goBack();
    await expect.poll(() => requestsCard(page)).toBe(2);
    const callsBefore = calls.length;
    await page.reload();
    await expect.poll(() => calls.slice(callsBefore).filter((c) => c.from === from && c.to === to).length).toBe(1);
    expect(await page.locator('#range-from').inputValue()).toBe('2026-03-01T00:00');
    await expect.poll(() => requestsCard(page)).toBe(2);

    // Changing the zone keeps the instants (the range stays put) and shows them on the new zone's clocks.
    await page.locator('#tz').selectOption('UTC');
    await expect.poll(() => new URL(page.url()).searchParams.get('tz')).toBe('UTC');
    expect(new URL(page.url()).searchParams.get('from')).toBe('2026-02-28T18:30:00.000Z');
    expect(await page.locator('#range-from').inputValue()).toBe('2026-02-28T18:30');
    expect(await page.locator('#range-to').inputValue()).toBe('2026-03-01T18:30');
    await expect.poll(() => calls.some((c) => c.from === from && c.to === to && c.tz === 'UTC')).toBe(true);
    await page.screenshot({ path: `${artifacts}dashboard-range-kolkata.png`, clip: { x: 0, y: 0, width: 1400, height: 420 } });
    expect(errors).toEqual([]);
  });

  it('America/New_York across DST: a 23-hour and a 25-hour local day, skipped and repeated wall times', async () => {
    const { page, errors } = await newPage('Europe/Berlin');
    const calls = recordStatsCalls(page);
    await page.goto(`${server.url}?range=1h`);
    expect(await page.locator('#tz').inputValue()).toBe('Europe/Berlin');
    await page.locator('#tz').selectOption('America/New_York');
    await expect.poll(() => new URL(page.url()).searchParams.get('tz')).toBe('America/New_York');
    const has = (from: string, to: string) => calls.some((c) => c.from === Date.parse(from) && c.to === Date.parse(to) && c.tz === 'America/New_York');

    // Clocks forward on 2026-03-08: that local day lasts 23 hours.
    await applyCustom(page, '2026-03-08T00:00', '2026-03-09T00:00');
    await expect.poll(() => has('2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z')).toBe(true);
    await expect.poll(() => requestsCard(page)).toBe(2);

    // Clocks back on 2026-11-01: that local day lasts 25 hours.
    await applyCustom(page, '2026-11-01T00:00', '2026-11-02T00:00');
    await expect.poll(() => has('2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z')).toBe(true);
    await expect.poll(() => requestsCard(page)).toBe(2);
    expect(await page.locator('#range-to').inputValue()).toBe('2026-11-02T00:00');

    // 02:30 on 2026-03-08 never happened in New York: read as 03:30 EDT (07:30Z), and shown so.
    // 01:30 on 2026-11-01 happened twice: the first one (EDT, 05:30Z).
    await applyCustom(page, '2026-03-08T02:30', '2026-11-01T01:30');
    await expect.poll(() => has('2026-03-08T07:30:00Z', '2026-11-01T05:30:00Z')).toBe(true);
    expect(await page.locator('#range-from').inputValue()).toBe('2026-03-08T03:30');
    expect(await page.locator('#range-to').inputValue()).toBe('2026-11-01T01:30');

    // A range that ends before it starts is refused, and the view does not change.
    const before = page.url();
    await applyCustom(page, '2026-03-09T00:00', '2026-03-08T00:00');
    await page.locator('#error', { hasText: 'must end after it starts' }).waitFor();
    expect(page.url()).toBe(before);
    expect(errors).toEqual([]);
  });
});

import { sql, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pulse } from '../../src/create-pulse.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import { browserAvailable } from '../support/browser.js';
import { expectNoOverflow, SCREENSHOTS, startDashboardBrowser, VIEWPORTS, type DashboardBrowser } from '../support/dashboard-browser.js';
import { makeLog } from '../support/fixtures.js';

const MINUTE = 60_000;
const TOKEN = 'browser-attributes-token';
const LONG_PLAN = `enterprise-${'with-a-long-contract-name-'.repeat(4)}2026`;

/** The Attributes panel: the keys of the range, the values of one, a click filters; in Chromium at desktop and phone widths, against SQL over the raw rows. */
describe.skipIf(!browserAvailable)('dashboard custom attributes (Chromium)', () => {
  let app: DashboardBrowser;
  let pulse: Pulse;

  beforeAll(async () => {
    app = await startDashboardBrowser(TOKEN);
    pulse = app.pulse;
    const at = (i: number) => new Date(Date.now() - 40 * MINUTE + i * 15_000);
    // plan on 17 rows (pro 9, 2 of them 500, three visitors; free 6; one long name twice), region on 10, seats on 5, 4 rows without attributes.
    for (let i = 0; i < 9; i++)
      pulse.pubsub.publish(
        makeLog({
          inserted_at: at(i),
          visitor_id: `pro-${i % 3}`,
          status_code: i < 2 ? 500 : 200,
          attributes: { plan: 'pro', region: i % 2 ? 'eu' : 'us', ...(i < 5 && { seats: 3 }) },
        }),
      );
    for (let i = 0; i < 6; i++) pulse.pubsub.publish(makeLog({ inserted_at: at(20 + i), visitor_id: 'free', attributes: { plan: 'free' } }));
    for (let i = 0; i < 2; i++) pulse.pubsub.publish(makeLog({ inserted_at: at(30 + i), visitor_id: 'big', attributes: { plan: LONG_PLAN } }));
    pulse.pubsub.publish(makeLog({ inserted_at: at(40), attributes: { region: 'apac' } }));
    for (let i = 0; i < 4; i++) pulse.pubsub.publish(makeLog({ inserted_at: at(50 + i) }));
    await pulse.flush();
  });

  afterAll(() => app?.close());

  const rows = async <T>(query: RawBuilder<T>) => (await query.execute(pulse.db)).rows;
  const keysSql = () =>
    rows(sql<{ key: string; requests: number }>`select k as key, count(*)::int as requests from pgpulse.request_logs, jsonb_object_keys(attributes) k
      group by k order by requests desc, k`);
  const valuesSql = (key: string, where = sql`true`) =>
    rows(sql<{ key: string; visitors: number; requests: number }>`select attributes ->> ${key} as key, count(distinct visitor_id)::int as visitors,
      count(*)::int as requests from pgpulse.request_logs where attributes ->> ${key} is not null and ${where} group by 1 order by requests desc, 1`);

  it('GET /api/attributes lists the keys, and the values of a key as /api/stats?attributeKey= does', async () => {
    const from = new Date(Date.now() - 60 * MINUTE);
    const get = async (query: string) => {
      const response = await fetch(`${app.base}/api/attributes?from=${from.toISOString()}${query}`, {
        headers: { cookie: `pgpulse_session=${sessionValue(TOKEN)}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as {
        keys: { key: string; requests: number }[];
        key: string | null;
        values: { key: string; visitors: number; requests: number }[];
      };
    };
    const keys = await keysSql();
    expect(keys.map((k) => k.key)).toEqual(['plan', 'region', 'seats']);
    // Without attributeKey: the most used key's values.
    expect(await get('')).toEqual({ keys, key: 'plan', values: await valuesSql('plan') });
    const region = await get('&attributeKey=region&status=2xx');
    expect(region.values).toEqual(await valuesSql('region', sql`status_code between 200 and 299`));
    const parsed = parseStatsParams(new URLSearchParams({ from: from.toISOString(), attributeKey: 'region', status: '2xx' }));
    if (!parsed.ok) throw new Error('bad params');
    expect(region.values).toEqual((await queryStats(pulse.db, parsed.params)).attributes!.values);
    expect(
      (await fetch(`${app.base}/api/attributes?from=${from.toISOString()}&attributeKey=1x`, { headers: { cookie: `pgpulse_session=${sessionValue(TOKEN)}` } }))
        .status,
    ).toBe(400);
    expect((await fetch(`${app.base}/api/attributes?from=${from.toISOString()}`)).status).toBe(401);
  });

  for (const [name, width, height] of VIEWPORTS) {
    it(`lists the keys and values; a click on a value filters the page (${name})`, async () => {
      const { context, page } = await app.open(width, height);
      try {
        await page.goto(`${app.base}/?range=1h`);
        const table = page.locator('#attribute-values');
        await table.locator('tbody tr').nth(2).waitFor();
        const keys = await keysSql();
        expect(await page.locator('#attribute-key option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(
          keys.map((k) => k.key),
        );
        expect(await page.locator('#attribute-key').inputValue()).toBe('plan');
        const cells = () =>
          table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells, (td) => td.textContent)));
        const plan = await valuesSql('plan');
        expect(plan.map((v) => v.key)).toEqual(['pro', 'free', LONG_PLAN]);
        expect(await cells()).toEqual(plan.map((v) => [v.key, String(v.visitors), String(v.requests)]));
        // The long value is cut off in its cell, the whole of it in the title.
        expect(await table.locator('tbody tr').nth(2).locator('td').first().getAttribute('title')).toBe(LONG_PLAN);
        await expectNoOverflow(page, width);
        await page.locator('#attributes-panel').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${SCREENSHOTS}h2-attributes-${name}.png` });

        // Another key: its values.
        await page.selectOption('#attribute-key', 'region');
        await expect.poll(cells, { timeout: 15_000 }).toEqual((await valuesSql('region')).map((v) => [v.key, String(v.visitors), String(v.requests)]));
        await page.selectOption('#attribute-key', 'plan');
        await expect.poll(() => table.locator('tbody tr').count(), { timeout: 15_000 }).toBe(3);

        // Click "pro": the attribute filter in the URL and a chip; the cards are those of the rows with plan pro.
        await table.locator('button.filter', { hasText: /^pro$/ }).click();
        await page.waitForURL(/attribute=plan%3Apro/);
        expect(new URL(page.url()).searchParams.get('attribute')).toBe('plan:pro');
        await expect.poll(() => page.locator('#chips li').first().textContent(), { timeout: 15_000 }).toContain('Attribute: plan:pro');
        const [pro] = await rows(
          sql<{ requests: number; visitors: number; errors: number }>`select count(*)::int as requests, count(distinct visitor_id)::int as visitors,
            count(*) filter (where status_code >= 500)::int as errors from pgpulse.request_logs where attributes ->> 'plan' = 'pro'`,
        );
        expect(pro).toEqual({ requests: 9, visitors: 3, errors: 2 });
        await expect.poll(() => page.locator('#card-requests').textContent(), { timeout: 15_000 }).toBe(String(pro!.requests));
        expect(await page.locator('#card-visitors').textContent()).toBe(String(pro!.visitors));
        expect(await page.locator('#card-errors').textContent()).toBe(`${((pro!.errors / pro!.requests) * 100).toFixed(2)}%`);
        // The panel follows the filter: only pro is left.
        await expect.poll(cells, { timeout: 15_000 }).toEqual([['pro', String(pro!.visitors), String(pro!.requests)]]);
        await expectNoOverflow(page, width);
        await page.screenshot({ path: `${SCREENSHOTS}h2-attributes-filtered-${name}.png` });
      } finally {
        await context.close();
      }
    });
  }
});

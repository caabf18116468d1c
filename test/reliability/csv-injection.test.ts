import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createContext, runInContext } from 'node:vm';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { csvCell, csvCellScript } from '../../src/dashboard/csv-cell.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { sessionValue } from '../../src/dashboard/token-gate.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen, send } from '../support/http.js';

const TOKEN = 'csv-injection-token-0123456789';
/** Formula payloads as a spreadsheet would run them (OWASP's CSV injection examples). */
const FORMULAS = ['=1+2a', "=cmd|' /C calc'!A0", '+SUM(1,2)', '-2+3', '@SUM(1)', '\t=1', '\r=1'];

describe('the CSV page and export share one formula-safe rule', () => {
  it('the page gets the server function itself (its source), which behaves the same', () => {
    const context = createContext({ window: {} });
    runInContext(csvCellScript, context);
    const pageCell = (context.window as { pgpulseCsvCell: (value: unknown) => string }).pgpulseCsvCell;
    for (const value of [...FORMULAS, 'plain', 'a,b', 'say "hi"', '', null, undefined, 12.5, -3, 'line\nbreak', '–'])
      expect(pageCell(value), JSON.stringify(value)).toBe(csvCell(value));
    for (const formula of FORMULAS) expect(csvCell(formula)).toMatch(/^"?'/);
  });
});

describe.runIf(browserAvailable)('formula injection through the panel CSV buttons (Chromium)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20, nodeId: '=1+2' });
    await pulse.migrate();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    const middleware = pulse.middleware();
    server = createServer((req, res) => {
      if (req.url?.startsWith('/pgpulse/')) {
        Object.assign(req, { originalUrl: req.url, url: req.url.slice('/pgpulse'.length) });
        return dashboard.handler(req, res);
      }
      middleware(req, res, () => res.end('ok'));
    });
    base = await listen(server);
    // Real requests with the referers of the report: their hosts are not host names.
    await send(`${base}/f`, { headers: { referer: 'http://=1+2a/' } });
    await send(`${base}/f`, { headers: { referer: "http://cmd|' /x" } });
    await send(`${base}/f`, { headers: { referer: 'https://Bücher.Example/page' } });
    // Rows an older pgpulse stored (no host validation then), and text the app itself recorded.
    for (const [i, formula] of FORMULAS.entries())
      pulse.pubsub.publish(makeLog({ referer: `http://${formula}/`, referer_host: formula, path: formula, node_id: formula, request_id: `legacy-${i}` }));
    await pulse.flush();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    if (server) await closeServer(server);
    await pulse?.close();
    await database?.drop();
  });

  it('referers whose host is not a host name are stored with referer_host null and counted', async () => {
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['referer', 'referer_host']).where('path', '=', '/f').orderBy('id').execute();
    expect(rows).toEqual([
      { referer: 'http://=1+2a/', referer_host: null },
      { referer: "http://cmd|' /x", referer_host: null },
      { referer: 'https://Bücher.Example/page', referer_host: 'xn--bcher-kva.example' },
    ]);
    expect(pulse.stats.refererHostsRejected).toBe(2);
    expect(await pulse.metrics()).toMatch(/^pgpulse_referer_hosts_rejected_total 2$/m);
  });

  it('every panel CSV prefixes formula cells, cell for cell as the server export does', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    await context.addCookies([{ name: 'pgpulse_session', value: sessionValue(TOKEN), url: `${base}/pgpulse/`, httpOnly: true, sameSite: 'Strict' }]);
    const page = await context.newPage();
    await page.goto(`${base}/pgpulse/?range=1h`);
    await page.locator('#referrers button.filter', { hasText: '=1+2a' }).waitFor({ timeout: 15_000 });
    const seen = new Set<string>();
    for (const id of ['referrers', 'top-paths', 'nodes']) {
      const shown = await page.locator(`#${id} tbody tr`).evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.textContent)));
      const download = page.waitForEvent('download');
      await page.locator(`#${id}`).locator('xpath=..').locator('button.csv').click();
      const lines = (await readFile(await (await download).path(), 'utf8')).split('\r\n');
      expect(lines.slice(1, -1), id).toEqual(shown.map((cells) => cells.map(csvCell).join(',')));
      for (const line of lines) for (const formula of FORMULAS) if (line.includes(formula)) seen.add(`${id}:${formula}`);
      // No line starts a cell with a formula character.
      for (const line of lines.slice(1)) expect(line, `${id}: ${line}`).not.toMatch(/(^|,)"?[=+\-@\t\r]/);
    }
    // Each payload reached a downloaded file (the Top paths panel shows them all; Referrers and Nodes their top ones).
    for (const formula of FORMULAS)
      expect(
        [...seen].some((key) => key.endsWith(`:${formula}`)),
        formula,
      ).toBe(true);
    expect([...seen].filter((key) => key.startsWith('referrers:')).length).toBeGreaterThanOrEqual(3);
    await context.close();
  });

  it('the server export prefixes the same cells', async () => {
    const response = await send(`${base}/pgpulse/api/export?format=csv&from=${new Date(Date.now() - 3_600_000).toISOString()}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    for (const line of response.body.split('\r\n').slice(1)) expect(line).not.toMatch(/(^|,)"?[=+\-@\t\r]/);
    expect(response.body).toContain(`'=1+2a`);
  });
});

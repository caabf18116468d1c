import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { parseStatsParams, type StatsParams } from '../../src/stats/stats-params.js';
import { queryRawStats } from '../../src/stats/raw-stats.js';
import { queryRollupStats } from '../../src/stats/rollup-stats.js';
import { closeServer, listen, send } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const SAFARI_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1';

function params(from: Date, to: Date): StatsParams {
  const parsed = parseStatsParams(new URLSearchParams({ from: from.toISOString(), to: to.toISOString() }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
}

/** browser, os, country and referer_host: stored, and grouped by the stats API from raw rows and on the rollup path. */
describe('derived columns (migration 0005)', () => {
  let pulse: Pulse;
  let plain: Pulse;
  let server: Server;
  let plainServer: Server;
  let base: string;
  let plainBase: string;
  const started = new Date();

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'cdn', trustCountryHeaders: true, maintenanceIntervalMs: 0 });
    plain = createPulse({ connectionString: database.url, nodeId: 'plain', maintenanceIntervalMs: 0 });
    server = createServer(pulse.wrap((_req, res) => res.end('ok')));
    plainServer = createServer(plain.wrap((_req, res) => res.end('ok')));
    base = await listen(server);
    plainBase = await listen(plainServer);
  });

  afterAll(async () => {
    await closeServer(server);
    await closeServer(plainServer);
    await pulse.close();
    await plain.close();
  });

  it('stores browser, os, country and referer_host', async () => {
    await send(`${base}/a`, { headers: { 'user-agent': FIREFOX_LINUX, 'cf-ipcountry': 'de', referer: 'https://News.Example.org/item?id=1' } });
    await send(`${base}/b`, { headers: { 'user-agent': SAFARI_IOS, 'cloudfront-viewer-country': 'JP' } });
    await send(`${base}/c`, { headers: { 'user-agent': 'Googlebot/2.1 (+http://www.google.com/bot.html)', 'cf-ipcountry': 'XX' } });
    // Not trusted: the header is ignored.
    await send(`${plainBase}/d`, { headers: { 'user-agent': FIREFOX_LINUX, 'cf-ipcountry': 'FR' } });
    await pulse.flush();
    await plain.flush();
    const rows = await pulse.db
      .selectFrom('pgpulse.request_logs')
      .select(['path', 'browser', 'os', 'country', 'referer', 'referer_host', 'device_type'])
      .orderBy('path')
      .execute();
    expect(rows).toEqual([
      {
        path: '/a',
        browser: 'Firefox',
        os: 'Linux',
        country: 'DE',
        referer: 'https://News.Example.org/item',
        referer_host: 'news.example.org',
        device_type: 'desktop',
      },
      { path: '/b', browser: 'Safari', os: 'iOS', country: 'JP', referer: null, referer_host: null, device_type: 'mobile' },
      { path: '/c', browser: null, os: null, country: null, referer: null, referer_host: null, device_type: 'bot' },
      { path: '/d', browser: 'Firefox', os: 'Linux', country: null, referer: null, referer_host: null, device_type: 'desktop' },
    ]);
  });

  it('the stats API groups by them, from raw rows and on the rollup path', async () => {
    const to = new Date(Date.now() + 60_000);
    const keyed = (list: { key: string | null; requests: number }[]) => list.map(({ key, requests }) => ({ key, requests }));
    const stats = await queryRawStats(pulse.db, params(new Date(started.getTime() - 60_000), to));
    const raw = {
      browsers: keyed(stats.browsers),
      operatingSystems: keyed(stats.operatingSystems),
      countries: keyed(stats.countries),
      refererHosts: keyed(stats.refererHosts),
    };
    expect(raw.browsers).toEqual([
      { key: 'Firefox', requests: 2 },
      { key: 'Safari', requests: 1 },
    ]);
    expect(raw.operatingSystems).toEqual([
      { key: 'Linux', requests: 2 },
      { key: 'iOS', requests: 1 },
    ]);
    expect(raw.countries).toEqual([
      { key: 'DE', requests: 1 },
      { key: 'JP', requests: 1 },
    ]);
    expect(raw.refererHosts).toEqual([{ key: 'news.example.org', requests: 1 }]);
    const long = await queryRollupStats(pulse.db, params(new Date(started.getTime() - 3 * 3_600_000), to));
    expect(long.range.source).toBe('rollups');
    expect({
      browsers: keyed(long.browsers),
      operatingSystems: keyed(long.operatingSystems),
      countries: keyed(long.countries),
      refererHosts: keyed(long.refererHosts),
    }).toEqual({
      browsers: raw.browsers,
      operatingSystems: raw.operatingSystems,
      countries: raw.countries,
      refererHosts: raw.refererHosts,
    });
  });
});

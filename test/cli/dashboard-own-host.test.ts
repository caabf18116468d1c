import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { collect, runCli, spawnCli, waitForOutput } from '../support/cli.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';

/** Referrers of the seeded rows: the app's own hosts (internal navigation) and other sites. */
const REFERRERS = [
  'https://shop.example.com/products/1',
  'https://www.shop.example.com/cart',
  'http://shop.example.com:8443/checkout',
  'https://admin.example.com/orders',
  'https://news.ycombinator.com/item?id=1',
  'https://www.google.com/',
] as const;

interface Stats {
  referrers: { key: string; requests: number }[];
}

describe('pgpulse dashboard --own-host', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    const pulse = createPulse({ connectionString: database.url, maxWaitMs: 10 });
    await pulse.migrate();
    for (const referer of REFERRERS) pulse.pubsub.publish(makeLog({ referer, inserted_at: new Date(Date.now() - 60_000) }));
    await pulse.flush();
    await pulse.close();
  });
  afterAll(async () => {
    await database.drop();
  });

  /** Referrer hosts the standalone dashboard lists for the last hour. */
  async function referrerHosts(ownHostArgs: string[]): Promise<string[]> {
    const child = spawnCli(['dashboard', '--database-url', database.url, '--port', '0', ...ownHostArgs]);
    const result = collect(child);
    try {
      const [, url] = await waitForOutput(result, /pgpulse dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/);
      const to = Date.now();
      const response = await fetch(`${url}api/stats?from=${to - 3_600_000}&to=${to}`);
      expect(response.status).toBe(200);
      return ((await response.json()) as Stats).referrers.map((r) => r.key).sort();
    } finally {
      child.kill('SIGTERM');
      expect((await result).code).toBe(0);
    }
  }

  it("standalone, it only knows its own Host (127.0.0.1), so the app's hosts count as referrers without --own-host", async () => {
    expect(await referrerHosts([])).toEqual(['admin.example.com', 'google.com', 'news.ycombinator.com', 'shop.example.com']);
  });

  it('leaves out the hosts given with --own-host (repeated or comma-separated; www. and port ignored)', async () => {
    expect(await referrerHosts(['--own-host', 'shop.example.com', '--own-host', 'ADMIN.example.com:443,localhost'])).toEqual([
      'google.com',
      'news.ycombinator.com',
    ]);
  });

  it('refuses a URL or a path instead of a host name, with exit code 2', async () => {
    for (const bad of ['https://shop.example.com', 'shop.example.com,,x']) {
      const result = await runCli(['dashboard', '--database-url', database.url, '--own-host', bad]);
      expect(result.code, bad).toBe(2);
      expect(result.stderr).toMatch(/--own-host must be a host name/);
    }
    const help = await runCli(['dashboard', '--help']);
    expect(help.stdout).toMatch(/--own-host HOST/);
  });
});

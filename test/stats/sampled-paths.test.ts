import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { sampledPathLists } from '../../src/stats/sampled-paths.js';
import { filterCondition } from '../../src/stats/stats-filters.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import type { StatsParams } from '../../src/stats/stats-params.js';
import { test } from '../support/migrated-database.js';
import { seededRandom, zipfIndex } from '../support/seeded-random.js';

const DAY = 86_400_000;
const from = Date.UTC(2026, 0, 1);
const to = from + 30 * DAY;

/**
 * 80,000 rows over 30 days in bursts, as real traffic comes: runs of the same
 * path and device (mean 40 rows, so a page of the table holds one or two
 * runs), Zipf-like paths (a few hot pages, hundreds of rare ones) and a tail of
 * bot 404 paths. Deterministic (mulberry32, seed 23).
 */
function burstRows(count: number): { path: string[]; status: number[]; device: string[]; at: Date[] } {
  const random = seededRandom(23);
  const zipf = (n: number, s: number) => zipfIndex(random, n, s);
  const rows = { path: [] as string[], status: [] as number[], device: [] as string[], at: [] as Date[] };
  while (rows.path.length < count) {
    const bot = random() < 0.1;
    const path = bot ? `/wp-${zipf(300, 1.2)}.php` : `/p${zipf(400, 1.1)}`;
    const device = bot ? 'bot' : random() < 0.4 ? 'mobile' : 'desktop';
    const length = 1 + Math.floor(-Math.log(1 - random()) * 40);
    for (let i = 0; i < length && rows.path.length < count; i++) {
      rows.path.push(path);
      rows.status.push(bot ? 404 : random() < 0.05 ? 404 : 200);
      rows.device.push(device);
      rows.at.push(new Date(from + Math.floor((rows.path.length / count) * (to - from))));
    }
  }
  return rows;
}

const filters: Record<string, string>[] = [{ device: 'mobile' }, { status: '4xx' }, { device: 'desktop' }];
const seeds = Array.from({ length: 20 }, (_, i) => i + 1);

function params(filter: Record<string, string>): StatsParams {
  const parsed = parseStatsParams(new URLSearchParams({ from: String(from), to: String(to), ...filter }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
}

describe('sampled top paths and 404s (filtered cube answers)', () => {
  test.beforeAll(async ({ database }) => {
    const rows = burstRows(80_000);
    await sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id, inserted_at)
      select 'r' || n, 'GET', path, status, 1, device, 'node-1', at
      from unnest(${rows.path}::text[], ${rows.status}::int[], ${rows.device}::text[], ${rows.at}::timestamptz[]) with ordinality as r(path, status, device, at, n)`.execute(
      database.db,
    );
  }, 60_000);

  test('the stated margin covers every count shown in ≥ 95% of 60 samples of bursty rows', async ({ database }) => {
    let covered = 0;
    let trials = 0;
    const misses: string[] = [];
    for (const filter of filters) {
      const p = params(filter);
      const exact = await sql<{ path: string; n: number; nf: number }>`select path, count(*)::int as n, count(*) filter (where status_code = 404)::int as nf
        from pgpulse.request_logs where inserted_at >= ${p.from} and inserted_at < ${p.to} and ${filterCondition(p)} group by path`.execute(database.db);
      const counts = new Map(exact.rows.map((r) => [r.path, r]));
      for (const seed of seeds) {
        const sampled = await sampledPathLists(database.db, p, 0, 0, { percent: 10, seed });
        expect(sampled.topPaths.length).toBeGreaterThan(5);
        const errors = [
          ...sampled.topPaths.map((r) => Math.abs(r.requests - (counts.get(r.key!)?.n ?? 0))),
          ...sampled.notFound.map((r) => Math.abs(r.requests - (counts.get(r.key!)?.nf ?? 0))),
        ];
        const error = Math.max(...errors);
        trials++;
        if (error <= sampled.margin) covered++;
        else misses.push(`${JSON.stringify(filter)} seed ${seed}: error ${error} > margin ${sampled.margin}`);
      }
    }
    console.log(`sampled margin covered the largest error in ${covered} of ${trials} samples`, misses);
    expect(trials).toBe(60);
    expect(covered / trials, misses.join('\n')).toBeGreaterThanOrEqual(0.95);
  });

  test('a sample of every page is exact: margin 0', async ({ database }) => {
    const sampled = await sampledPathLists(database.db, params({ device: 'mobile' }), 0, 0, { percent: 100 });
    expect(sampled.margin).toBe(0);
    expect(sampled.percent).toBe(100);
  });
});

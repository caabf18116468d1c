import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { queryRawStats } from '../../src/stats/raw-stats.js';
import { rebuildRollups } from '../../src/store/rebuild-rollups.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { runCli } from '../support/cli.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Requests per hour as the rollups say (all routes), shards added up. */
async function rolledPerHour(pulse: Pulse, from: number, to: number): Promise<Map<number, number>> {
  const result = await sql<{ bucket: Date; n: number }>`
    select bucket, sum(requests)::int as n from pgpulse.rollups
    where grain = 'hour' and route = chr(1) || 'all' and bucket >= ${new Date(from)} and bucket < ${new Date(to)} group by 1`.execute(pulse.db);
  return new Map(result.rows.map((r) => [r.bucket.getTime(), r.n]));
}

/** Requests per hour in raw rows. */
async function rawPerHour(pulse: Pulse, from: number, to: number): Promise<Map<number, number>> {
  const result = await sql<{ bucket: Date; n: number }>`
    select date_trunc('hour', inserted_at, 'UTC') as bucket, count(*)::int as n from pgpulse.request_logs
    where inserted_at >= ${new Date(from)} and inserted_at < ${new Date(to)} group by 1`.execute(pulse.db);
  return new Map(result.rows.map((r) => [r.bucket.getTime(), r.n]));
}

describe('fresh rollups after deletes', () => {
  let pulse: Pulse;
  // Four hours, two days ago (inside retention of 10 days).
  const start = Math.floor((Date.now() - 2 * DAY) / DAY) * DAY + 6 * HOUR;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 500, maintenanceIntervalMs: 0 });
    for (let i = 0; i < 8_000; i++) {
      pulse.pubsub.broadcast(
        makeLog({
          inserted_at: new Date(start + (i * 4 * HOUR) / 8_000),
          route: i % 4 === 0 ? '/gone' : '/kept',
          status_code: i % 10 === 0 ? 500 : 200,
          duration_ms: 1 + (i % 100),
          visitor_id: `v${i % 300}`,
        }),
      );
    }
    await pulse.flush();
  }, 60_000);
  afterAll(async () => {
    await pulse.close();
  });

  test('pgpulse rebuild-rollups --from --to: after rows are deleted by hand, stats stop counting them', async ({ database }) => {
    await sql`delete from pgpulse.request_logs where route = '/gone'`.execute(pulse.db);
    const params = { from: new Date(start), to: new Date(start + 4 * HOUR), tz: 'UTC' };
    expect((await queryStats(pulse.db, params)).totals.requests).toBe(8_000); // stale until rebuilt

    // A range that is not hour-aligned is widened to whole hours, so no hour is left half rebuilt.
    const run = await runCli([
      'rebuild-rollups',
      '--database-url',
      database.url,
      '--from',
      new Date(start + 30 * 60_000).toISOString(),
      '--to',
      new Date(start + 4 * HOUR - 30 * 60_000).toISOString(),
    ]);
    expect(run.stderr).toMatch(/rebuilt/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/rebuilt .* \(1 day chunk\(s\)\)/);

    const rolled = await queryStats(pulse.db, params);
    const raw = await queryRawStats(pulse.db, params);
    expect(rolled.range.source).toBe('cube'); // rebuilt with the rollups
    expect(rolled.totals.requests).toBe(6_000);
    expect(rolled.totals.status).toEqual(raw.totals.status);
    expect(rolled.topRoutes.map((r) => r.route)).toEqual(['/kept']);
    expect(await rolledPerHour(pulse, start, start + 4 * HOUR)).toEqual(await rawPerHour(pulse, start, start + 4 * HOUR));
    const minutes = await sql<{ n: number }>`
      select sum(requests)::int as n from pgpulse.rollups where grain = 'minute' and bucket >= ${params.from} and bucket < ${params.to}`.execute(pulse.db);
    expect(minutes.rows[0]!.n).toBe(6_000);
  });

  it('rebuilds exactly while writers keep adding rows to the range being rebuilt', async () => {
    const adding = (async () => {
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 100; i++) pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(start + ((round * 100 + i) * 4 * HOUR) / 2_000) }));
        await pulse.flush();
      }
    })();
    const rebuilding = (async () => {
      for (let k = 0; k < 3; k++) await rebuildRollups(pulse.db, { from: new Date(start), to: new Date(start + 4 * HOUR) });
    })();
    await Promise.all([adding, rebuilding]);
    expect(await rolledPerHour(pulse, start, start + 4 * HOUR)).toEqual(await rawPerHour(pulse, start, start + 4 * HOUR));
  });

  it('rebuild-rollups without a range covers all data, e.g. after a truncate', async () => {
    await sql`truncate pgpulse.request_logs`.execute(pulse.db);
    const result = await rebuildRollups(pulse.db);
    expect(result.chunks).toBeGreaterThan(0);
    const left = await sql<{ n: string }>`select (select count(*) from pgpulse.rollups) + (select count(*) from pgpulse.visitor_sketches) as n`.execute(
      pulse.db,
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
    expect(await rebuildRollups(pulse.db)).toEqual({ from: null, to: null, chunks: 0 });
  });

  test('rejects bad ranges with a usage error', async ({ database }) => {
    const bad = await runCli(['rebuild-rollups', '--database-url', database.url, '--from', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from must be an ISO 8601/);
    const backwards = await runCli(['rebuild-rollups', '--database-url', database.url, '--from', '2030-01-02', '--to', '2030-01-01']);
    expect(backwards.code).toBe(2);
    await expect(rebuildRollups(pulse.db, { from: new Date('nope'), to: new Date() })).rejects.toThrow(/from is not a valid date/);
  });

  it('retention drops the rollups of the days it drops, and keeps the others', async () => {
    const old = Date.now() - 20 * DAY;
    const recent = Date.now() - 2 * DAY;
    for (const at of [old, old + HOUR, recent]) pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(at) }));
    await pulse.flush();
    await maintainPartitions(pulse.db);
    const count = async (from: number, to: number) => [...(await rolledPerHour(pulse, from, to)).values()].reduce((a, n) => a + n, 0);
    expect(await count(old - DAY, old + DAY)).toBe(2);
    const result = await maintainPartitions(pulse.db, { retentionDays: 10 });
    expect(result.dropped).toBeGreaterThanOrEqual(1);
    expect(await count(old - DAY, old + DAY)).toBe(0);
    const sketches = await sql<{
      n: number;
    }>`select count(*)::int as n from pgpulse.visitor_sketches where bucket < ${new Date(Date.now() - 10 * DAY)}`.execute(pulse.db);
    expect(sketches.rows[0]!.n).toBe(0);
    expect(await count(recent - DAY, recent + DAY)).toBe(1);
    const stats = await queryStats(pulse.db, { from: new Date(old - DAY), to: new Date(old + DAY), tz: 'UTC' });
    expect(stats.totals.requests).toBe(0);
  });
});

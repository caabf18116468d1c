// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { parseStatsParams, type StatsParams } from '../../src/stats/stats-params.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog, eventually } from '../support/fixtures.js';
import { lockWaiters } from '../support/lock-waiters.js';

function params(query: string): StatsParams {
  const parsed = parseStatsParams(new URLSearchParams(query));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
}

/**
 * Rows of a day without a partition wait in the default partition; maintenance
 * then gives the day its partition and moves them there. A dashboard read that
 * runs while it does must still see every row (README: the answers stay exact).
 */
describe('reading rows while maintenance moves them out of the default partition', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  const day = '2031-03-04';
  const at = Date.parse(`${day}T15:00:00Z`);

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 10, maintenanceIntervalMs: 0, cubeIntervalMs: 0 });
    for (let i = 0; i < 60; i++) {
      pulse.pubsub.broadcast(
        makeLog({ inserted_at: new Date(at + i * 60_000), route: '/dims', browser: i % 3 ? 'Chrome' : 'Safari', country: i % 4 ? 'DE' : 'JP' }),
      );
    }
    await pulse.flush();
  });

  afterAll(async () => {
    await pulse.close();
    await database.drop();
  });

  it('a filtered hour answered while the rows move keeps its sampled breakdowns', async () => {
    const where = await sql<{ part: string }>`select distinct tableoid::regclass::text as part from pgpulse.request_logs`.execute(pulse.db);
    expect(where.rows.map((r) => r.part)).toEqual(['pgpulse.request_logs_default']);
    const mover = new pg.Client({ connectionString: database.url });
    await mover.connect();
    try {
      await mover.query('begin');
      expect((await mover.query<{ created: boolean }>(`select pgpulse.ensure_partition($1::date) as created`, [day])).rows[0]!.created).toBe(true);
      const reading = queryStats(pulse.db, params(`from=${at}&to=${at + 3_600_000}&browser=Chrome`));
      // The read waits for the moving transaction's lock on the default partition.
      await eventually(async () => (await lockWaiters(pulse.db)) === 1, 10_000, 'the lock waiter');
      await mover.query('commit');
      const chrome = await reading;
      expect(chrome.range.source).toBe('rollups');
      expect(chrome.totals.requests).toBe(40);
      expect(chrome.countries.map((c) => c.key)).toEqual(['DE', 'JP']);
    } finally {
      await mover.end();
    }
    const moved = await sql<{ part: string }>`select distinct tableoid::regclass::text as part from pgpulse.request_logs`.execute(pulse.db);
    expect(moved.rows.map((r) => r.part)).toEqual([`pgpulse.request_logs_p${day.replaceAll('-', '')}`]);
  });

  it('a move waits for a reader already in its transaction, which keeps reading every row (no deadlock)', async () => {
    const later = '2031-03-09';
    const lo = Date.parse(`${later}T08:00:00Z`);
    for (let i = 0; i < 30; i++) pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(lo + i * 60_000) }));
    await pulse.flush();
    const count = `select count(*)::int as n from pgpulse.request_logs where inserted_at >= $1 and inserted_at < $2`;
    const range = [new Date(lo), new Date(lo + 3_600_000)];
    const reader = new pg.Client({ connectionString: database.url });
    await reader.connect();
    try {
      await reader.query('begin');
      expect((await reader.query<{ n: number }>(count, range)).rows[0]!.n).toBe(30);
      const moving = sql<{ created: boolean }>`select pgpulse.ensure_partition(${later}::date) as created`.execute(pulse.db);
      await eventually(async () => (await lockWaiters(pulse.db)) === 1, 10_000, 'the lock waiter');
      expect((await reader.query<{ n: number }>(count, range)).rows[0]!.n).toBe(30);
      await reader.query('commit');
      expect((await moving).rows[0]!.created).toBe(true);
    } finally {
      await reader.end();
    }
    const after = await sql<{ n: number; part: string }>`select count(*)::int as n, min(tableoid::regclass::text) as part from pgpulse.request_logs
      where inserted_at >= ${new Date(lo)} and inserted_at < ${new Date(lo + 3_600_000)}`.execute(pulse.db);
    expect(after.rows[0]).toEqual({ n: 30, part: `pgpulse.request_logs_p${later.replaceAll('-', '')}` });
  });
});

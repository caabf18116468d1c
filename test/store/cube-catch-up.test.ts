import { sql } from 'kysely';
import { afterAll, describe, expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { CUBE_BUILD_LOCK } from '../../src/store/cube-builder.js';
import { catchUpCube } from '../../src/store/cube-catch-up.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { rebuildRollups } from '../../src/store/rebuild-rollups.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import { expectExact } from '../support/exact-stats.js';
import { longTailRows } from '../support/long-tail.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const start = end - 30 * HOUR;
const params = (from: number, to: number) => {
  const parsed = parseStatsParams(new URLSearchParams({ from: String(from), to: String(to), tz: 'UTC' }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
};

describe('the request cube stays right across late rows, skewed clocks, rebuilds and retention', () => {
  let pulse: Pulse;
  const range = params(start + 5 * 60_000, end + 50 * 60_000);

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 2_000, maintenanceIntervalMs: 0, cubeIntervalMs: 0, writerMode: 'in-process' });
    for (const row of longTailRows(4_000, { from: start, to: end, seed: 5 })) pulse.pubsub.broadcast(row);
    await pulse.flush();
    await catchUpCube(database.db, { maxHours: 1_000 });
  }, 120_000);

  afterAll(async () => {
    await pulse.close();
  });

  test('a late row (old inserted_at, e.g. a node whose clock is behind) is counted at once and its hour is rebuilt by the next catch-up', async ({
    database,
  }) => {
    const { db } = database;
    const before = await queryStats(db, range);
    expect(before.range.unbuiltHours).toBe(0);
    pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(start + 10 * HOUR + 1_234), status_code: 418, browser: 'Late', node_id: 'late-node' }));
    await pulse.flush();
    const stale = await queryStats(db, range);
    expect(stale.range.source).toBe('cube');
    expect(stale.range.unbuiltHours).toBe(1); // that hour is read from raw rows until rebuilt
    await expectExact(db, range, stale);
    const run = await catchUpCube(db);
    expect(run.hours).toBeGreaterThanOrEqual(1);
    const after = await queryStats(db, range);
    expect(after.range.unbuiltHours).toBe(0);
    expect(after.statusCodes?.find((c) => c.key === '418')?.requests).toBe(1);
    await expectExact(db, range, after);
  });

  test('a backfill (rows of past hours written late, e.g. an import): answers stay exact before, between and after resumable catch-up batches', async ({
    database,
  }) => {
    const { db } = database;
    const filtered = params(start + 5 * 60_000, end + 50 * 60_000);
    const filters = { ...filtered, status: '4xx', device: 'bot' as const };
    // Three past hours (a tenth of the range: the cube still answers, reading them raw), across a UTC
    // midnight: a catch-up batch is one UTC day, so the backfill takes two batches at any time of day.
    const midnight = Math.floor((end - HOUR) / DAY) * DAY;
    for (const row of longTailRows(900, { from: midnight - 2 * HOUR, to: midnight + HOUR, seed: 23 })) pulse.pubsub.broadcast(row);
    await pulse.flush();
    const during = await queryStats(db, filtered);
    expect(during.range).toMatchObject({ source: 'cube', unbuiltHours: 3 });
    await expectExact(db, filtered, during);
    await expectExact(db, filters, await queryStats(db, filters));
    // One batch per run: each run leaves less, and answers between runs stay exact.
    const first = await catchUpCube(db, { maxHours: 1 });
    expect(first.pending).toBeGreaterThan(0);
    const between = await queryStats(db, filtered);
    expect(between.range.unbuiltHours).toBeLessThan(3);
    await expectExact(db, filtered, between);
    for (let run = 0; run < 10 && (await catchUpCube(db, { maxHours: 1 })).pending > 0; run++);
    const after = await queryStats(db, filtered);
    expect(after.range).toMatchObject({ source: 'cube', unbuiltHours: 0 });
    await expectExact(db, filtered, after);
    await expectExact(db, filters, await queryStats(db, filters));
  });

  test("the pulse's background catch-up reports each batch as a backfillProgress event (rows read, hours still pending)", async ({ database }) => {
    const midnight = Math.floor((end - HOUR) / DAY) * DAY;
    for (const row of longTailRows(300, { from: midnight - 2 * HOUR, to: midnight + HOUR, seed: 31 })) pulse.pubsub.broadcast(row);
    await pulse.flush();
    const batches: { from: Date; to: Date; rows: number; pending: number }[] = [];
    const onBatch = (batch: (typeof batches)[number]) => batches.push(batch);
    pulse.on('backfillProgress', onBatch);
    try {
      const run = await pulse.catchUpCube();
      // Two UTC days were touched: one batch each, newest first, the last one leaving nothing pending.
      expect(batches.length).toBe(2);
      expect(batches.reduce((n, b) => n + b.rows, 0)).toBe(run.rows);
      expect(batches[0]!.from.getTime()).toBeGreaterThan(batches[1]!.from.getTime());
      expect(batches.at(-1)!.pending).toBe(run.pending);
      expect(run.pending).toBe(0);
      const raw = await sql<{ n: string }>`
        select count(*) as n from pgpulse.request_logs where inserted_at >= ${batches[1]!.from} and inserted_at < ${batches[0]!.to}`.execute(database.db);
      expect(run.rows).toBe(Number(raw.rows[0]!.n));
    } finally {
      pulse.off('backfillProgress', onBatch);
    }
  });

  test('a node whose clock is ahead: rows of an hour that has not ended are read raw, and the cube leaves that hour alone', async ({ database }) => {
    const { db } = database;
    const ahead = Date.now() + 20 * 60_000;
    pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(ahead), node_id: 'fast-clock' }));
    await pulse.flush();
    const run = await catchUpCube(db);
    const built = await sql<{ n: number }>`select count(*)::int as n from pgpulse.cube_buckets where bucket > now()`.execute(db);
    expect(built.rows[0]!.n).toBe(0);
    expect(run.skipped).toBe(false);
    const wide = params(start, ahead + 60_000);
    await expectExact(db, wide, await queryStats(db, wide));
  });

  test('while another process builds the cube (its lock held), a catch-up skips; once it is done, the catch-up builds', async ({ database }) => {
    const { db, pool } = database;
    pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(start + 3 * HOUR) }));
    pulse.pubsub.broadcast(makeLog({ inserted_at: new Date(start + 20 * HOUR) }));
    await pulse.flush();
    const other = await pool.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [CUBE_BUILD_LOCK]);
      expect(await catchUpCube(db)).toMatchObject({ skipped: true, hours: 0 });
      await other.query('select pg_advisory_unlock($1)', [CUBE_BUILD_LOCK]);
    } finally {
      other.release();
    }
    const run = await catchUpCube(db);
    expect(run.skipped).toBe(false);
    expect(run.hours).toBeGreaterThanOrEqual(2);
    await expectExact(db, range, await queryStats(db, range));
  });

  test('rows deleted by hand: rebuildRollups rebuilds rollups and cube together; until then the catch-up does not loop on the hour', async ({ database }) => {
    const { db } = database;
    const lo = new Date(start + 12 * HOUR);
    const hi = new Date(start + 13 * HOUR);
    await sql`delete from pgpulse.request_logs where inserted_at >= ${lo} and inserted_at < ${hi}`.execute(db);
    expect((await catchUpCube(db)).hours).toBe(0); // the rollups did not move: nothing new to build from
    await rebuildRollups(db, { from: lo, to: hi });
    // The hour's cube buckets were rebuilt with its rollups; the catch-up only redoes the day cells around it (closed days are built whole).
    expect((await catchUpCube(db)).hours).toBeLessThanOrEqual(24);
    expect((await catchUpCube(db)).hours).toBe(0);
    const stats = await queryStats(db, range);
    expect(stats.range.unbuiltHours).toBe(0);
    await expectExact(db, range, stats);
  });

  test('retention deletes cube buckets with the partitions they were built from', async ({ database }) => {
    const { db } = database;
    const today = Math.floor(Date.now() / DAY) * DAY;
    await maintainPartitions(db, { retentionDays: 1 });
    const left = await sql<{ n: string }>`
      select (select count(*) from pgpulse.cube_cells where bucket < ${new Date(today - DAY)})
        + (select count(*) from pgpulse.cube_buckets where bucket < ${new Date(today - DAY)})
        + (select count(*) from pgpulse.cube_top_keys where bucket < ${new Date(today - DAY)}) as n`.execute(db);
    expect(left.rows[0]!.n).toBe('0');
    const recent = params(Math.max(start, today - DAY) + 60_000, end);
    await expectExact(db, recent, await queryStats(db, recent));
  });
});

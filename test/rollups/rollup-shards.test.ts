import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { queryRawStats } from '../../src/stats/raw-stats.js';
import { migrate, migrationsDir } from '../../src/store/migrate.js';
import { preferredShard, ROLLUP_SHARDS } from '../../src/rollups/rollup-shard.js';
import { writeRollups } from '../../src/store/write-rollups.js';
import { Writer } from '../../src/writer/writer.js';
import { createMigratedTestDatabase, createTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import type { PulseDatabase } from '../../src/schema/database.js';

const HOUR = 3_600_000;

describe('rollup shards', () => {
  let database: TestDatabase;
  let pulse: Pulse;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url });
    await pulse.migrate();
  });
  afterAll(async () => {
    await pulse.close();
    await database.drop();
  });

  it('preferred shards are stable per node and slot, and in range', () => {
    expect(preferredShard('node-a', 0)).toBe(preferredShard('node-a', 0));
    expect(preferredShard('node-a', 1)).toBe((preferredShard('node-a', 0) + 1) % ROLLUP_SHARDS);
    for (const node of ['a', 'web-1', 'x'.repeat(300), '', 'ü-ñ-😀']) {
      for (const slot of [0, 1, 7, ROLLUP_SHARDS, 1_000_003]) {
        const shard = preferredShard(node, slot);
        expect(Number.isInteger(shard), `${node}/${slot}`).toBe(true);
        expect(shard, `${node}/${slot}`).toBeGreaterThanOrEqual(0);
        expect(shard, `${node}/${slot}`).toBeLessThan(ROLLUP_SHARDS);
      }
    }
  });

  it('two open transactions upserting the same bucket claim different shards and never wait on each other', async () => {
    const at = new Date(Date.parse('2032-01-01T10:00:30Z'));
    const rows = [makeLog({ inserted_at: at }), makeLog({ inserted_at: at, visitor_id: 'v2' })];
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstShard = -1;
    let firstClaimed!: () => void;
    const claimed = new Promise<void>((resolve) => (firstClaimed = resolve));
    const first = pulse.db.transaction().execute(async (trx) => {
      firstShard = await writeRollups(trx, rows, 5);
      firstClaimed();
      await firstHolds;
    });
    await claimed;
    // While the first transaction still holds its rows, a second one must not wait for any lock.
    const secondShard = await pulse.db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = '2s'`.execute(trx);
      return writeRollups(trx, rows, 5);
    });
    releaseFirst();
    await first;
    expect(firstShard).toBe(5);
    expect(secondShard).toBe(6);
    const cells = await sql<{ shard: number; requests: number }>`
      select shard, requests from pgpulse.rollups where grain = 'minute' and bucket = '2032-01-01T10:00:00Z' order by shard`.execute(pulse.db);
    expect(cells.rows).toEqual([
      { shard: 5, requests: 2 },
      { shard: 6, requests: 2 },
    ]);
    const sketches = await sql<{
      n: number;
    }>`select count(*)::int as n from pgpulse.visitor_sketches where grain = 'hour' and bucket = '2032-01-01T10:00:00Z'`.execute(pulse.db);
    expect(sketches.rows[0]!.n).toBe(2);
  });

  it('several writers at once: stats from sharded rollups equal those of raw rows', async () => {
    const start = Date.parse('2032-02-01T00:00:00Z');
    // close() waits for every row (this is no timeout test: on a loaded machine 12,000 rows can take more than the default 10 s).
    const writers = Array.from(
      { length: 4 },
      (_, w) => new Writer(pulse.db, { nodeId: `node-${w}`, maxRows: 200, maxWritesInFlight: 3, closeTimeoutMs: 120_000 }),
    );
    for (let i = 0; i < 12_000; i++) {
      writers[i % 4]!.add(
        makeLog({
          inserted_at: new Date(start + (i * 3 * HOUR) / 12_000),
          route: ['/a', '/b', null][i % 3]!,
          status_code: i % 17 === 0 ? 503 : i % 11 === 0 ? 404 : 200,
          duration_ms: 1 + (i % 250),
          device_type: i % 5 === 0 ? 'mobile' : 'desktop',
          visitor_id: `v${i % 900}`,
        }),
      );
    }
    await Promise.all(writers.map((w) => w.close()));
    expect(
      writers.map((w) => ({ dropped: w.stats.dropped, rejected: w.stats.rejected, written: w.stats.written })),
      'every row written',
    ).toEqual(Array.from({ length: 4 }, () => ({ dropped: 0, rejected: 0, written: 3_000 })));
    const shards = await sql<{ n: number }>`
      select count(distinct shard)::int as n from pgpulse.rollups where bucket >= ${new Date(start)} and bucket < ${new Date(start + 3 * HOUR)}`.execute(
      pulse.db,
    );
    expect(shards.rows[0]!.n).toBeGreaterThan(1);
    const params = { from: new Date(start), to: new Date(start + 3 * HOUR), tz: 'UTC' };
    const rolled = await queryStats(pulse.db, params);
    const raw = await queryRawStats(pulse.db, params);
    expect(rolled.range.source).toBe('rollups');
    expect(rolled.totals.requests).toBe(12_000);
    expect(rolled.totals.status).toEqual(raw.totals.status);
    // Raw rows count visitors per device too; the rollups count requests.
    expect(rolled.devices).toEqual(raw.devices.map(({ key, requests }) => ({ key, requests })));
    expect(rolled.totals.avgMs).toBeCloseTo(raw.totals.avgMs!, 6);
    for (const p of ['p50', 'p95', 'p99'] as const) expect(Math.abs(rolled.totals[p]! - raw.totals[p]!) / raw.totals[p]!).toBeLessThanOrEqual(0.02);
    expect(Math.abs(rolled.totals.visitors! - raw.totals.visitors!) / raw.totals.visitors!).toBeLessThan(0.05);
    const rawRoutes = new Map(raw.topRoutes.map((r) => [r.route, r.requests]));
    for (const route of rolled.topRoutes) expect(route.requests).toBe(rawRoutes.get(route.route));
    const points = rolled.series.filter((p) => p.requests > 0);
    expect(points.reduce((a, p) => a + p.requests, 0)).toBe(12_000);
  });
});

describe('migration 0007', () => {
  it('carries existing rollup rows over as shard 0', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool }) });
    const upTo0004 = await mkdtemp(join(tmpdir(), 'pgpulse-0004-'));
    try {
      for (const name of ['0001_request_logs.sql', '0002_partition_request_logs.sql', '0003_rollups.sql', '0004_partition_attach.sql']) {
        await copyFile(join(migrationsDir, name), join(upTo0004, name));
      }
      await migrate(db, upTo0004);
      await sql`insert into pgpulse.request_logs (request_id, method, path, route, status_code, duration_ms, device_type, visitor_id, node_id, inserted_at)
                select 'r' || i, 'GET', '/p', '/r' || (i % 3), 200, i, 'desktop', 'v' || (i % 7), 'old', now() - (i || ' minutes')::interval
                from generate_series(1, 300) i`.execute(db);
      await sql`select pgpulse.rebuild_rollups('-infinity', 'infinity')`.execute(db);
      const before = await sql`select * from pgpulse.rollups order by grain, bucket, route`.execute(db);
      const sketchesBefore = await sql`select * from pgpulse.visitor_sketches order by grain, bucket`.execute(db);
      expect(before.rows.length).toBeGreaterThan(0);
      await migrate(db);
      const after = await sql`select * from pgpulse.rollups order by grain, bucket, route`.execute(db);
      expect(after.rows).toEqual(before.rows.map((r) => ({ ...(r as object), shard: 0 })));
      const sketchesAfter = await sql`select * from pgpulse.visitor_sketches order by grain, bucket`.execute(db);
      expect(sketchesAfter.rows).toEqual(sketchesBefore.rows.map((r) => ({ ...(r as object), shard: 0 })));
      const indexes = await sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = 'pgpulse' and tablename = 'request_logs'`.execute(
        db,
      );
      expect(indexes.rows.map((r) => r.name)).not.toContain('request_logs_route_inserted_at_idx');
    } finally {
      await db.destroy();
      await rm(upTo0004, { recursive: true, force: true });
      await database.drop();
    }
  });
});

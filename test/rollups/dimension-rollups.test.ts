import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { rollupBatch } from '../../src/rollups/batch-rollup.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { migrate, migrationsDir } from '../../src/store/migrate.js';
import { rebuildRollups } from '../../src/store/rebuild-rollups.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { createMigratedTestDatabase, createTestDatabase, type TestDatabase } from '../support/database.js';
import { makeLog } from '../support/fixtures.js';
import type { RequestLog } from '../../src/schema/request-log.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;

const browsers = ['Chrome', 'Safari', 'Firefox', null] as const;
const oses = ['Windows', 'macOS', 'iOS', 'Android', null] as const;
const countries = ['DE', 'US', 'FR', null] as const;
const devices = ['desktop', 'mobile', 'tablet', 'bot'] as const;

/** Rows over `hours` hours from `start` with every dimension varied (some nulls). */
function varied(count: number, start: number, hours: number): RequestLog[] {
  return Array.from({ length: count }, (_, i) =>
    makeLog({
      inserted_at: new Date(start + Math.floor((i * hours * HOUR) / count)),
      browser: browsers[i % browsers.length]!,
      os: oses[i % oses.length]!,
      country: countries[(i >> 1) % countries.length]!,
      device_type: devices[i % 7 === 0 ? 3 : i % 3]!,
      node_id: `node-${i % 3}`,
      status_code: i % 11 === 0 ? 500 : i % 7 === 0 ? 404 : i % 13 === 0 ? 302 : 200,
      duration_ms: 0.5 + (i % 250) * 1.7,
      route: i % 2 ? '/a' : '/b',
    }),
  );
}

/**
 * Differences between the dimension rollups (shards added up) and the same
 * aggregates computed from raw rows: one row per (grain, bucket, dimension,
 * value, latency bucket) whose requests, status classes, duration sum or
 * histogram count disagree. Empty when the rollups are exact.
 */
async function differences(db: Kysely<PulseDatabase>): Promise<Record<string, unknown>[]> {
  const result = await sql<Record<string, unknown>>`
    with rolled as (
      select grain, bucket, dimension, value, sum(requests)::int as n, sum(s1)::int as s1, sum(s2)::int as s2, sum(s3)::int as s3,
        sum(s4)::int as s4, sum(s5)::int as s5, round(sum(duration_sum)::numeric, 6) as ds
      from pgpulse.dimension_rollups group by 1, 2, 3, 4),
    raw_rows as (
      select g.grain, date_trunc(g.grain, inserted_at, 'UTC') as bucket, d.dimension, d.value, status_code, duration_ms,
        pgpulse.latency_bucket(duration_ms) as lb
      from pgpulse.request_logs
      cross join (values ('minute'), ('hour')) g(grain)
      cross join lateral (values ('browser', browser), ('os', os), ('country', country), ('device', device_type), ('node', node_id)) d(dimension, value)
      where d.value is not null),
    raw as (
      select grain, bucket, dimension, value, count(*)::int as n, count(*) filter (where status_code < 200)::int as s1,
        count(*) filter (where status_code between 200 and 299)::int as s2, count(*) filter (where status_code between 300 and 399)::int as s3,
        count(*) filter (where status_code between 400 and 499)::int as s4, count(*) filter (where status_code >= 500)::int as s5,
        round(sum(duration_ms)::numeric, 6) as ds
      from raw_rows group by 1, 2, 3, 4),
    rolled_hist as (
      select grain, bucket, dimension, value, h.lb, sum(h.n)::int as n
      from pgpulse.dimension_rollups, unnest(hist_idx, hist_cnt) h(lb, n) group by 1, 2, 3, 4, 5),
    raw_hist as (select grain, bucket, dimension, value, lb, count(*)::int as n from raw_rows group by 1, 2, 3, 4, 5)
    select 'counts' as what, * from (
      select grain, bucket, dimension, value, null::int as lb, rolled.n as rolled, raw.n as raw from rolled full join raw using (grain, bucket, dimension, value)
      where row(rolled.n, rolled.s1, rolled.s2, rolled.s3, rolled.s4, rolled.s5, rolled.ds) is distinct from row(raw.n, raw.s1, raw.s2, raw.s3, raw.s4, raw.s5, raw.ds)) c
    union all
    select 'histogram', grain, bucket, dimension, value, lb, rolled_hist.n, raw_hist.n from rolled_hist full join raw_hist using (grain, bucket, dimension, value, lb)
    where rolled_hist.n is distinct from raw_hist.n
    limit 20`.execute(db);
  return result.rows;
}

async function dimensionRows(db: Kysely<PulseDatabase>): Promise<number> {
  const result = await sql<{ n: number }>`select count(*)::int as n from pgpulse.dimension_rollups`.execute(db);
  return result.rows[0]!.n;
}

describe('dimension rollups (browser, OS, country, device, node)', () => {
  it('rollupBatch: one row per grain, bucket, dimension and non-null value', () => {
    const start = Math.floor(Date.now() / HOUR) * HOUR;
    const { dimensions } = rollupBatch(varied(600, start, 2));
    const hourBrowsers = dimensions.filter((d) => d.grain === 'hour' && d.dimension === 'browser' && d.bucket === start);
    expect(hourBrowsers.map((d) => d.value).sort()).toEqual(['Chrome', 'Firefox', 'Safari']);
    expect(hourBrowsers.reduce((n, d) => n + d.requests, 0)).toBe(225); // 300 rows in the hour, a quarter without a browser
    for (const d of dimensions) {
      expect([...d.histogram.values()].reduce((a, b) => a + b, 0)).toBe(d.requests);
      expect(d.status.reduce((a, b) => a + b, 0)).toBe(d.requests);
    }
    const minuteNodes = dimensions.filter((d) => d.grain === 'minute' && d.dimension === 'node');
    expect(minuteNodes.reduce((n, d) => n + d.requests, 0)).toBe(600);
  });

  describe('in Postgres', () => {
    let database: TestDatabase;
    let pulse: Pulse;
    // Three hours, two days ago (inside a retention of 10 days).
    const start = Math.floor((Date.now() - 2 * DAY) / DAY) * DAY + 5 * HOUR + 17 * 60_000;

    beforeAll(async () => {
      database = await createMigratedTestDatabase();
      pulse = createPulse({ connectionString: database.url, maxRows: 400, maxWritesInFlight: 3, maintenanceIntervalMs: 0 });
      await pulse.migrate();
      for (const row of varied(6_000, start, 3)) pulse.pubsub.broadcast(row);
      await pulse.flush();
    }, 60_000);
    afterAll(async () => {
      await pulse.close();
      await database.drop();
    });

    it('the writer keeps them equal to counts from raw rows, over several batches and shards', async () => {
      expect(await dimensionRows(pulse.db)).toBeGreaterThan(0);
      expect(await differences(pulse.db)).toEqual([]);
      const shards = await sql<{ n: number }>`select count(distinct shard)::int as n from pgpulse.dimension_rollups`.execute(pulse.db);
      expect(shards.rows[0]!.n).toBeGreaterThanOrEqual(1);
    });

    it('rebuild-rollups makes them equal to raw rows again after rows are deleted by hand', async () => {
      await sql`delete from pgpulse.request_logs where browser = 'Safari' or country = 'FR'`.execute(pulse.db);
      expect(await differences(pulse.db)).not.toEqual([]);
      await rebuildRollups(pulse.db, { from: new Date(start), to: new Date(start + 3 * HOUR) });
      expect(await differences(pulse.db)).toEqual([]);
      const safari = await sql<{ n: number }>`select count(*)::int as n from pgpulse.dimension_rollups where value in ('Safari', 'FR')`.execute(pulse.db);
      expect(safari.rows[0]!.n).toBe(0);
    });

    it('retention drops the dimension rollups of the days it drops, and keeps the others', async () => {
      const old = Date.now() - 20 * DAY;
      for (const row of varied(50, old, 1)) pulse.pubsub.broadcast(row);
      await pulse.flush();
      await maintainPartitions(pulse.db);
      const before = await sql<{
        n: number;
      }>`select count(*)::int as n from pgpulse.dimension_rollups where bucket < ${new Date(Date.now() - 10 * DAY)}`.execute(pulse.db);
      expect(before.rows[0]!.n).toBeGreaterThan(0);
      const kept = await dimensionRows(pulse.db);
      await maintainPartitions(pulse.db, { retentionDays: 10 });
      const after = await sql<{
        n: number;
      }>`select count(*)::int as n from pgpulse.dimension_rollups where bucket < ${new Date(Date.now() - 10 * DAY)}`.execute(pulse.db);
      expect(after.rows[0]!.n).toBe(0);
      expect(await dimensionRows(pulse.db)).toBe(kept - before.rows[0]!.n);
      expect(await differences(pulse.db)).toEqual([]);
    });
  });

  it('migration 0008 builds them for rows stored before it', async () => {
    const database = await createTestDatabase();
    const before = await mkdtemp(join(tmpdir(), 'pgpulse-0007-'));
    const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 2 }) }) });
    try {
      await cp(migrationsDir, before, { recursive: true, filter: (src) => !/\/0(00[89]|0[1-9]\d)_[^/]*\.sql$/.test(src) });
      await migrate(db, before);
      const start = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
      await sql`select pgpulse.ensure_partition(${new Date(start).toISOString().slice(0, 10)}::date)`.execute(db);
      // Rows as a writer of that schema stored them: only the columns that existed before 0008 (today's writer also
      // writes the columns of later migrations, which this schema refuses).
      const existing = await sql<{ name: string }>`
        select column_name as name from information_schema.columns where table_schema = 'pgpulse' and table_name = 'request_logs'`.execute(db);
      const columns = new Set(existing.rows.map((r) => r.name));
      const rows = varied(500, start, 2).map((row) => Object.fromEntries(Object.entries(row).filter(([key]) => columns.has(key))));
      await db
        .insertInto('pgpulse.request_logs')
        .values(rows as never)
        .execute();
      await migrate(db);
      expect(await dimensionRows(db)).toBeGreaterThan(0);
      expect(await differences(db)).toEqual([]);
    } finally {
      await db.destroy();
      await rm(before, { recursive: true, force: true });
      await database.drop();
    }
  });
});

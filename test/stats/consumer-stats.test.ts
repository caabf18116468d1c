import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { RequestLog } from '../../src/schema/request-log.js';
import { catchUpCube } from '../../src/store/cube-catch-up.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { filterCondition } from '../../src/stats/stats-filters.js';
import { parseStatsParams, type StatsParams } from '../../src/stats/stats-params.js';
import type { Stats } from '../../src/stats/stats.js';
import { expectExact } from '../support/exact-stats.js';
import { longTailRows } from '../support/long-tail.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const end = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const start = end - 72 * HOUR;

/** Long-tail rows, 70% of them with one of 60 consumers (Zipf-like); acme changes its name and group half-way. */
function withConsumers(rows: RequestLog[]): RequestLog[] {
  let state = 7;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  return rows.map((row) => {
    if (random() < 0.3) return row;
    const i = Math.min(59, Math.floor(60 ** (random() ** 1.5)) - 1);
    const id = i === 0 ? 'acme' : `key_${i}`;
    const late = row.inserted_at.getTime() > start + 40 * HOUR;
    return {
      ...row,
      consumer_id: id,
      consumer_name: id === 'acme' ? (late ? 'Acme Corp' : 'Acme') : i % 3 === 0 ? null : `Customer ${i}`,
      consumer_group: i % 2 === 0 ? (id === 'acme' && late ? 'enterprise' : 'pro') : null,
    };
  });
}

const rows = withConsumers(longTailRows(15_000, { from: start, to: end, seed: 41 }));

/** The consumers of a range under filters, from raw rows by plain SQL (independent of the read model). */
async function exactConsumers(db: Kysely<PulseDatabase>, params: StatsParams) {
  const where = sql`inserted_at >= ${params.from} and inserted_at < ${params.to} and consumer_id is not null and ${filterCondition(params)}`;
  const result = await sql<{
    id: string;
    requests: number;
    errors: number;
    client_errors: number;
    bytes: string;
    last_seen: Date;
    name: string | null;
    grp: string | null;
    pct: number[];
  }>`
    select consumer_id as id, count(*)::int as requests, count(*) filter (where status_code >= 500)::int as errors,
      count(*) filter (where status_code between 400 and 499)::int as client_errors, sum(coalesce(response_bytes, 0))::text as bytes,
      max(inserted_at) as last_seen,
      (array_agg(consumer_name order by inserted_at desc))[1] as name, (array_agg(consumer_group order by inserted_at desc))[1] as grp,
      percentile_cont(array[0.5, 0.95]) within group (order by duration_ms) as pct
    from pgpulse.request_logs where ${where} group by 1 order by 2 desc, 1`.execute(db);
  return result.rows;
}

async function expectConsumers(db: Kysely<PulseDatabase>, params: StatsParams, stats: Stats): Promise<void> {
  const exact = await exactConsumers(db, params);
  expect(stats.consumerCount, 'consumer count').toBe(exact.length);
  const byId = new Map(exact.map((e) => [e.id, e]));
  expect(stats.consumers!.length, 'list length').toBe(Math.min(20, exact.length));
  expect(
    stats.consumers!.map((c) => c.requests),
    'the top counts',
  ).toEqual(exact.slice(0, 20).map((e) => e.requests));
  for (const c of stats.consumers!) {
    const e = byId.get(c.id);
    expect(e, `${c.id} is a consumer of the raw rows`).toBeDefined();
    expect(
      { requests: c.requests, errors: c.errors, clientErrors: c.clientErrors, bytes: c.bytes, lastSeen: c.lastSeen, name: c.name, group: c.group },
      c.id,
    ).toEqual({
      requests: e!.requests,
      errors: e!.errors,
      clientErrors: e!.client_errors,
      bytes: Number(e!.bytes),
      lastSeen: e!.last_seen.toISOString(),
      name: e!.name,
      group: e!.grp,
    });
    // Percentiles come from the log-bucketed histograms: within 2% (a bucket), as the cube's.
    if (e!.requests >= 20) {
      expect(Math.abs(c.p50! - e!.pct[0]!) / e!.pct[0]!, `${c.id} p50`).toBeLessThan(0.02);
      expect(Math.abs(c.p95! - e!.pct[1]!) / e!.pct[1]!, `${c.id} p95`).toBeLessThan(0.02);
    }
  }
}

const parse = (search: Record<string, string>): StatsParams => {
  const parsed = parseStatsParams(new URLSearchParams(search));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
};

const filters: Record<string, string>[] = [
  {},
  { consumer: 'acme' },
  { consumer: 'key_3', status: '4xx' },
  { consumer: 'acme', route: '/search' },
  { route: '/products/:id' },
  { status: '5xx' },
  { browser: 'Safari', country: 'US' },
];
const ranges = {
  'three days, unaligned (day cells)': [start + 37 * 60_000 + 5_000, end - 11 * 60_000],
  'five hours': [start + 50 * HOUR + 15 * 60_000, start + 55 * HOUR + 15 * 60_000],
  'ten minutes (raw rows)': [start + 60 * HOUR + 60_000, start + 60 * HOUR + 11 * 60_000],
} as const;

describe('consumers in the read model, against exact SQL over raw rows', () => {
  let pulse: Pulse;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxRows: 2_000, maintenanceIntervalMs: 0, cubeIntervalMs: 0, writerMode: 'in-process' });
    for (const row of rows) pulse.pubsub.broadcast(row);
    await pulse.flush();
    const built = await catchUpCube(database.db, { maxHours: 10_000 });
    expect(built.pending).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await pulse.close();
  });

  for (const [name, [from, to]] of Object.entries(ranges)) {
    for (const filter of filters) {
      test(`${name}, ${JSON.stringify(filter)}`, async ({ database }) => {
        const params = parse({ from: String(from), to: String(to), tz: 'Europe/Paris', ...filter });
        const stats = await queryStats(database.db, params);
        expect(stats.range.source).toBe(name.includes('raw') ? 'raw' : 'cube');
        if (stats.range.source === 'cube') expect(stats.range.unbuiltHours).toBe(0);
        await expectConsumers(database.db, params, stats);
        // With a consumer filter everything else is that consumer's traffic, exactly.
        if (filter.consumer !== undefined) await expectExact(database.db, params, stats);
      });
    }
  }

  test('the consumer cells are the consumers of the cube: per bucket they add up to the rows that have a consumer', async ({ database }) => {
    const cells = await sql<{ n: string }>`select sum(requests)::text as n from pgpulse.consumer_cells where grain = 'hour'`.execute(database.db);
    const raw = await sql<{ n: string }>`select count(*)::text as n from pgpulse.request_logs where consumer_id is not null`.execute(database.db);
    expect(cells.rows[0]!.n).toBe(raw.rows[0]!.n);
    const buckets = await sql<{ n: number }>`
      select count(*)::int as n from pgpulse.cube_buckets b
      where b.consumer_requests is distinct from (select coalesce(sum(requests), 0) from pgpulse.consumer_cells c where c.grain = b.grain and c.bucket = b.bucket)`.execute(
      database.db,
    );
    expect(buckets.rows[0]!.n).toBe(0);
  });

  test('buckets built without consumer cells (an older builder) answer from raw rows, and the catch-up rebuilds them', async ({ database }) => {
    const [from, to] = ranges['three days, unaligned (day cells)'];
    const params = parse({ from: String(from), to: String(to), consumer: 'acme' });
    // What a builder of the previous release leaves: buckets rebuilt without consumer_requests, consumer cells gone stale.
    await sql`update pgpulse.cube_buckets set consumer_requests = null where bucket >= ${new Date(start + 24 * HOUR)} and bucket < ${new Date(start + 48 * HOUR)}`.execute(
      database.db,
    );
    await sql`delete from pgpulse.consumer_cells where bucket >= ${new Date(start + 30 * HOUR)} and bucket < ${new Date(start + 31 * HOUR)}`.execute(
      database.db,
    );
    const before = await queryStats(database.db, params);
    await expectConsumers(database.db, params, before);
    await expectExact(database.db, params, before);
    const unfiltered = parse({ from: String(from), to: String(to) });
    await expectConsumers(database.db, unfiltered, await queryStats(database.db, unfiltered));
    const rebuilt = await catchUpCube(database.db, { maxHours: 10_000 });
    expect(rebuilt.hours).toBeGreaterThanOrEqual(24);
    const nulls = await sql<{ n: number }>`select count(*)::int as n from pgpulse.cube_buckets where consumer_requests is null`.execute(database.db);
    expect(nulls.rows[0]!.n).toBe(0);
    const after = await queryStats(database.db, params);
    expect(after.range.source).toBe('cube');
    expect(after.range.unbuiltHours).toBe(0);
    await expectConsumers(database.db, params, after);
    await expectExact(database.db, params, after);
  });

  test('a consumer filter is validated: empty or longer than 128 characters is a 400 issue', () => {
    for (const consumer of ['', 'x'.repeat(129)]) {
      const parsed = parseStatsParams(new URLSearchParams({ from: String(start), consumer }));
      expect(parsed.ok).toBe(false);
    }
  });
});

// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { queryStats } from '../../src/stats/query-stats.js';
import { filterCondition } from '../../src/stats/stats-filters.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import { Writer } from '../../src/writer/writer.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

const NOW = Date.now();
const FROM = new Date(NOW - 10 * 60_000).toISOString();
const TO = new Date(NOW + 60_000).toISOString();

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every index a plan scans. */
function indexesOf(node: PlanNode, out: string[] = []): string[] {
  if (node['Index Name']) out.push(`${node['Node Type']} on ${node['Index Name']}`);
  for (const child of node.Plans ?? []) indexesOf(child, out);
  return out;
}

function params(query: Record<string, string>) {
  const parsed = parseStatsParams(new URLSearchParams({ from: FROM, to: TO, ...query }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.params;
}

describe('stats by custom attribute (attribute=key:value, attributeKey=key)', () => {
  test.beforeAll(async ({ database }) => {
    const writer = new Writer(database.db, { nodeId: 'n' });
    const at = (i: number) => new Date(NOW - 60_000 + i);
    for (let i = 0; i < 5; i++) writer.add(makeLog({ inserted_at: at(i), visitor_id: `pro-${i % 2}`, attributes: { plan: 'pro', seats: 3 } }));
    for (let i = 0; i < 3; i++) writer.add(makeLog({ inserted_at: at(10 + i), visitor_id: 'free', attributes: { plan: 'free', trial: true } }));
    writer.add(makeLog({ inserted_at: at(20), attributes: { seats: '3' } }));
    for (let i = 0; i < 2; i++) writer.add(makeLog({ inserted_at: at(30 + i) }));
    await writer.close();
  });

  test('filters the whole answer by one attribute value, and lists the values of a key', async ({ database }) => {
    const pro = await queryStats(database.db, params({ attribute: 'plan:pro', attributeKey: 'plan' }));
    expect(pro.totals.requests).toBe(5);
    expect(pro.range.filters).toEqual({ attribute: 'plan:pro' });
    expect(pro.attributes).toEqual({ key: 'plan', values: [{ key: 'pro', requests: 5, visitors: 2 }] });
    const all = await queryStats(database.db, params({ attributeKey: 'plan' }));
    expect(all.totals.requests).toBe(11);
    expect(all.attributes).toEqual({
      key: 'plan',
      values: [
        { key: 'pro', requests: 5, visitors: 2 },
        { key: 'free', requests: 3, visitors: 1 },
      ],
    });
    expect((await queryStats(database.db, params({}))).attributes).toBeUndefined();
  });

  test('a value that spells a number or boolean also matches the number or boolean', async ({ database }) => {
    expect((await queryStats(database.db, params({ attribute: 'seats:3' }))).totals.requests).toBe(6);
    expect((await queryStats(database.db, params({ attribute: 'trial:true' }))).totals.requests).toBe(3);
    expect((await queryStats(database.db, params({ attribute: 'plan:enterprise' }))).totals.requests).toBe(0);
  });

  test('long ranges with an attribute read raw rows (attributes have no rollups)', async ({ database }) => {
    const long = parseStatsParams(new URLSearchParams({ from: new Date(NOW - 7 * 86_400_000).toISOString(), to: TO, attribute: 'plan:free' }));
    if (!long.ok) throw new Error('bad params');
    const stats = await queryStats(database.db, long.params);
    expect(stats.range.source).toBe('raw');
    expect(stats.totals.requests).toBe(3);
  });

  test('refuses malformed attribute parameters with a 400 issue list', () => {
    const queries: Record<string, string>[] = [
      { attribute: 'plan' },
      { attribute: '1st:x' },
      { attribute: `plan:${'x'.repeat(257)}` },
      { attributeKey: 'has space' },
    ];
    for (const query of queries) {
      const parsed = parseStatsParams(new URLSearchParams({ from: FROM, ...query }));
      expect(parsed.ok, JSON.stringify(query)).toBe(false);
    }
  });

  test('the attribute filter is served by the partial GIN index on attributes (EXPLAIN)', async ({ database }) => {
    // Enough rows that a sequential scan loses on cost: 1 in 500 rows has the attribute looked for.
    await sql`
      insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id, inserted_at, attributes)
      select 'bulk' || g, 'GET', '/bulk', 200, 1, 'desktop', 'n', now() - (g % 600) * interval '1 second',
        case when g % 500 = 0 then '{"plan":"enterprise"}'::jsonb when g % 2 = 0 then jsonb_build_object('plan', 'free', 'n', g) end
      from generate_series(1, 50000) g`.execute(database.db);
    await sql`analyze pgpulse.request_logs`.execute(database.db);
    const condition = filterCondition({ attribute: 'plan:enterprise' });
    const plan = await sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>`explain (format json) select count(*) from pgpulse.request_logs where ${condition}`.execute(
      database.db,
    );
    const indexes = indexesOf(plan.rows[0]!['QUERY PLAN'][0].Plan);
    expect(indexes.length).toBeGreaterThan(0);
    for (const index of indexes) expect(index).toMatch(/^Bitmap Index Scan on request_logs.*attributes_idx$/);
    const count = await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs where ${condition}`.execute(database.db);
    expect(count.rows[0]!.n).toBe(100);
  });
});

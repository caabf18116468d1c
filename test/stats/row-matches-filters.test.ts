import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import type { RequestLog } from '../../src/schema/request-log.js';
import { rowMatchesFilters } from '../../src/stats/row-matches-filters.js';
import { filterCondition, type StatsFilters } from '../../src/stats/stats-filters.js';
import { insertBatch } from '../../src/store/insert-batch.js';
import { longTailRows } from '../support/long-tail.js';
import { test } from '../support/migrated-database.js';

const from = Date.parse('2031-03-04T10:00:00Z');
const plans = ['pro', 'free', '3', 'true'] as const;
const attributes = (i: number): RequestLog['attributes'] =>
  i % 5 === 0 ? { plan: plans[i % 4]!, seats: i % 3, trial: i % 2 === 0 } : i % 7 === 0 ? { seats: '2' } : null;
const rows = longTailRows(3_000, { from, to: from + 3_600_000, seed: 11 }).map((row, i) => ({
  ...row,
  request_id: `r${i}`,
  // Some rows with custom attributes: strings, a number and a boolean that spell filter values.
  attributes: attributes(i),
  referer: i % 97 === 0 ? 'HTTPS://WWW.Google.com:443/x' : row.referer,
  consumer_id: i % 3 === 0 ? null : `key_${i % 4}`,
}));

/** Filter sets covering each filter alone, edge values and combinations. */
const cases: StatsFilters[] = [
  {},
  { route: '/search' },
  { route: '' },
  { path: '/search' },
  { path: rows.find((row) => row.device_type === 'bot')!.path },
  { referrer: 'google.com' },
  { referrer: 'www.google.com' },
  { referrer: 'news.ycombinator.com' },
  { referrer: '(direct)' },
  { referrer: 'com.slack' },
  { device: 'bot' },
  { status: '5xx' },
  { status: '4xx' },
  { status: '404' },
  { status: '304' },
  { node: 'node-1' },
  { browser: 'Safari' },
  { os: 'iOS' },
  { country: 'DE' },
  { attribute: 'plan:pro' },
  { attribute: 'seats:2' },
  { attribute: 'seats:0' },
  { attribute: 'trial:true' },
  { attribute: 'plan:3' },
  { attribute: 'plan:' },
  { browser: 'Chrome', country: 'US' },
  { status: '5xx', route: '/search', device: 'desktop' },
  { referrer: '(direct)', os: 'Android', node: 'node-2' },
  { attribute: 'plan:free', status: '2xx' },
  { consumer: 'key_1' },
  { consumer: 'key_2', status: '2xx' },
  { visitor: rows.find((row) => row.visitor_id !== null)!.visitor_id! },
  { session: rows.find((row) => row.session_id !== null)!.session_id! },
  { visitor: rows[7]!.visitor_id ?? 'v1', status: '2xx' },
];

describe('rowMatchesFilters', () => {
  test('selects the same rows as the SQL of the filters, for each filter alone and combined', async ({ database }) => {
    await insertBatch(database.db, rows);
    for (const filters of cases) {
      const result = await sql<{ request_id: string }>`select request_id from pgpulse.request_logs where ${filterCondition(filters)}`.execute(database.db);
      const inSql = result.rows.map((r) => r.request_id).sort();
      const inJs = rows
        .filter((row) => rowMatchesFilters(filters, row))
        .map((row) => row.request_id)
        .sort();
      expect(inJs, JSON.stringify(filters)).toEqual(inSql);
      // Each case but the empty attribute value selects something: the comparison is not vacuous.
      if (filters.attribute !== 'plan:') expect(inSql.length, JSON.stringify(filters)).toBeGreaterThan(0);
    }
  });
});

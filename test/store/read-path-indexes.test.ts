// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { recentRows } from '../../src/stats/recent-rows.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { fetchBackfillPage, fetchByIdRanges, fetchByIds, fetchByTx, fetchCatchUpKeys } from '../../src/store/fetch-rows.js';
import { parseSnapshot } from '../../src/store/snapshot.js';
import { makeLog } from '../support/fixtures.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;

interface Captured {
  what: string;
  text: string;
  values: readonly unknown[];
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** Every scan of request_logs (any partition) in a plan, as `node type on relation`. */
function requestLogScans(node: PlanNode, out: string[] = []): string[] {
  if (node['Relation Name']?.startsWith('request_logs')) out.push(`${node['Node Type']} on ${node['Relation Name']}`);
  for (const child of node.Plans ?? []) requestLogScans(child, out);
  return out;
}

/**
 * Proves every query of the read path can be served by an index of
 * pgpulse.request_logs, now that migration 0007 dropped (route, inserted_at):
 * each statement the dashboard (stats over raw rows and rollups, recent rows),
 * `pgpulse tail` and the listener (fetch by ids or transaction, catch-up,
 * backfill) send is captured, then EXPLAINed with sequential scans disabled.
 * Postgres still picks a sequential scan then when no index fits, so a plan
 * without one means an index serves the query at any table size. (A
 * TABLESAMPLE scan, used for top lists of long ranges, reads a bounded share
 * of pages and is allowed.)
 */
describe('read path uses indexes of request_logs', () => {
  let pulse: Pulse;
  const captured: Captured[] = [];
  let label = '';
  let db: Kysely<PulseDatabase>;
  let pool: pg.Pool;
  const start = Date.now() - 30 * HOUR;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, notify: true });
    for (let i = 0; i < 3_000; i++) {
      pulse.pubsub.broadcast(
        makeLog({ inserted_at: new Date(start + (i * 30 * HOUR) / 3_000), route: ['/a', '/b', null][i % 3]!, referer: i % 4 ? null : 'https://x/' }),
      );
    }
    await pulse.flush();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    db = new Kysely<PulseDatabase>({
      dialect: new PostgresDialect({ pool }),
      log: (event) => {
        if (event.level === 'query') captured.push({ what: label, text: event.query.sql, values: event.query.parameters });
      },
    });
    await sql`analyze pgpulse.request_logs`.execute(db);
  }, 60_000);
  afterAll(async () => {
    await db?.destroy();
    await pulse.close();
  });

  it('captures the statements of the dashboard, tail and listener, and none of them scans request_logs sequentially', async () => {
    const at = (h: number) => new Date(start + h * HOUR);
    label = 'stats, 10 minutes, raw rows';
    await queryStats(db, { from: at(10), to: new Date(at(10).getTime() + 10 * 60_000), tz: 'UTC' });
    label = 'stats, 10 minutes, raw rows, one route';
    await queryStats(db, { from: at(10), to: new Date(at(10).getTime() + 10 * 60_000), tz: 'UTC', route: '/a' });
    label = 'stats, 6 hours from rollups with raw edges';
    await queryStats(db, { from: new Date(at(2).getTime() + 7 * 60_000 + 5_000), to: new Date(at(8).getTime() + 13 * 60_000), tz: 'Europe/Paris' });
    label = 'stats, 24 hours from rollups, one route';
    await queryStats(db, { from: new Date(at(1).getTime() + 90_000), to: new Date(at(25).getTime() + 30_000), tz: 'UTC', route: '/b' });
    label = 'recent rows';
    await recentRows(db, { limit: 50 });
    label = 'recent rows, one path';
    await recentRows(db, { limit: 50, path: '/users/42' });
    label = 'recent rows, 5xx of the last hours';
    await recentRows(db, { limit: 50, status: '5xx', from: at(25) });

    label = '';
    const tx = await sql<{ tx: string; lo: string; hi: string }>`
      select tx_id::text as tx, min(id)::text as lo, max(id)::text as hi from pgpulse.request_logs group by tx_id order by tx_id desc limit 1`.execute(db);
    const { tx: txId, lo, hi } = tx.rows[0]!;
    const snapshot = (await sql<{ s: string }>`select pg_current_snapshot()::text as s`.execute(db)).rows[0]!.s;
    label = 'listener fetch by ids';
    await fetchByIdRanges(db, txId, [[Number(lo), Number(hi)]]);
    label = 'listener fetch by transaction';
    await fetchByTx(db, txId);
    const watermark = parseSnapshot(snapshot);
    label = 'listener / tail catch-up';
    await fetchCatchUpKeys(db, watermark, undefined, { txId: '0', id: 0 }, 5_000);
    label = 'listener periodic catch-up';
    await fetchCatchUpKeys(db, watermark, watermark, { txId: '0', id: 0 }, 5_000);
    label = 'listener catch-up rows by id';
    await fetchByIds(db, [Number(lo), Number(hi)]);
    label = 'tail --since backfill';
    await fetchBackfillPage(db, snapshot, at(20), 0, 5_000);

    const reads = captured.filter((q) => q.what !== '' && /pgpulse\.request_logs/.test(q.text));
    const labels = new Set(reads.map((q) => q.what));
    expect(labels.size).toBe(13);
    const client = await pool.connect();
    const offenders: string[] = [];
    try {
      await client.query('begin');
      await client.query('set local enable_seqscan = off');
      for (const query of reads) {
        const explained = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(CompiledQuery.raw(`explain (format json) ${query.text}`).sql, [
          ...query.values,
        ]);
        const scans = requestLogScans(explained.rows[0]!['QUERY PLAN'][0].Plan);
        expect(scans.length, `${query.what}: ${query.text}`).toBeGreaterThan(0);
        for (const scan of scans) if (/^Seq Scan/.test(scan)) offenders.push(`${query.what}: ${scan}\n${query.text}`);
      }
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(offenders).toEqual([]);
  });
});

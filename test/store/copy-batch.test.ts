// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PulseDatabase } from '../../src/schema/database.js';
import { copyText } from '../../src/store/copy-batch.js';
import { Writer } from '../../src/writer/writer.js';
import { test } from '../support/migrated-database.js';
import { makeLog } from '../support/fixtures.js';

/** A row with trace ids and attributes whose JSON needs COPY escaping (backslashes, control characters, quotes, tabs). */
const tracedLog = () =>
  makeLog({
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    span_id: '00f067aa0ba902b7',
    attributes: { plan: 'pro', 'tenant.id': 'a\\b\t"c"\n\\N é', seats: 12.5, trial: false },
  });

describe('Writer with COPY (copyPool)', () => {
  let pool: pg.Pool;
  let db: Kysely<PulseDatabase>;

  test.beforeAll(({ database }) => {
    ({ db, pool } = database);
  });
  beforeEach(async () => {
    await sql`truncate pgpulse.request_logs, pgpulse.rollups, pgpulse.visitor_sketches`.execute(db);
  });

  it('escapes the COPY text format: tabs, newlines, carriage returns, backslashes and a literal \\N', () => {
    const text = copyText([makeLog({ path: 'a\tb\nc\rd\\e', referer: '\\N', route: null, response_bytes: null })]);
    expect(text.split('\t').slice(0, 8)).toEqual([expect.any(String), 'GET', 'a\\tb\\nc\\rd\\\\e', '\\N', '200', '3.5', '\\N', expect.any(String)]);
    expect(text).toContain('\t\\\\N\t');
    // inserted_at as ISO 8601 UTC (no longer the last column since migration 0005 added columns after it).
    expect(text).toMatch(/\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z[\t\n]/);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').length).toBe(2);
  });

  it('stores every field faithfully, including odd characters, nulls and a 64 KB user agent', async () => {
    const writer = new Writer(db, { nodeId: 'n1', copyPool: pool });
    const logs = [
      makeLog({
        path: "/a'; drop table x; --/é/\u0001\t\\N\r\n\\",
        route: null,
        user_agent: 'U'.repeat(65_536),
        referer: '\\N',
        response_bytes: null,
        visitor_id: null,
        session_id: null,
        ip: '::1',
        duration_ms: 0.123456789,
        inserted_at: new Date('2026-03-04T05:06:07.089Z'),
      }),
      makeLog({ status_code: 599, device_type: 'bot', response_bytes: 9_007_199_254_740_991 }),
      tracedLog(),
    ];
    for (const log of logs) writer.add(log);
    await writer.close();
    const rows = await db.selectFrom('pgpulse.request_logs').selectAll().orderBy('id').execute();
    expect(
      rows.map((row) => ({ ...row, id: undefined, tx_id: undefined, response_bytes: row.response_bytes === null ? null : Number(row.response_bytes) })),
    ).toEqual(logs.map((log) => ({ ...log, id: undefined, tx_id: undefined })));
    const rolled = await sql<{ n: number }>`select sum(requests)::int as n from pgpulse.rollups where grain = 'minute'`.execute(db);
    expect(rolled.rows[0]!.n).toBe(3);
  });

  it('the unnest insert (no copyPool; with and without ids returned) stores trace ids and JSON attributes the same way', async () => {
    for (const notify of [false, true]) {
      const writer = new Writer(db, { nodeId: 'n1', notify });
      const logs = [tracedLog(), makeLog()];
      for (const log of logs) writer.add(log);
      await writer.close();
      const rows = await db.selectFrom('pgpulse.request_logs').select(['trace_id', 'span_id', 'attributes']).orderBy('id').execute();
      expect(rows).toEqual(logs.map(({ trace_id, span_id, attributes }) => ({ trace_id, span_id, attributes })));
      await sql`truncate pgpulse.request_logs`.execute(db);
    }
  });

  it('isolates a row Postgres rejects and keeps the rest (and the rollups of the rest)', async () => {
    await sql`alter table pgpulse.request_logs add constraint no_poison check (path <> '/poison')`.execute(db);
    try {
      const writer = new Writer(db, { nodeId: 'n1', copyPool: pool });
      const rejected: string[] = [];
      writer.on('rejected', (info) => rejected.push(info.row.path));
      for (let i = 0; i < 50; i++) writer.add(makeLog({ path: i === 17 ? '/poison' : `/ok/${i}` }));
      await writer.close();
      expect(Number((await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs`.execute(db)).rows[0]!.n)).toBe(49);
      expect(rejected).toEqual(['/poison']);
      const rolled = await sql<{ n: number }>`select sum(requests)::int as n from pgpulse.rollups where grain = 'minute'`.execute(db);
      expect(rolled.rows[0]!.n).toBe(49);
    } finally {
      await sql`alter table pgpulse.request_logs drop constraint no_poison`.execute(db);
    }
    expect(pool.totalCount).toBeLessThanOrEqual(4);
  });

  it('with the bridge on, answers ids in row order and the transaction id, matching the stored rows', async () => {
    const writer = new Writer(db, { nodeId: 'n1', copyPool: pool, notify: true, maxRows: 100 });
    for (let i = 0; i < 250; i++) writer.add(makeLog({ path: `/n/${i}` }));
    await writer.close();
    const rows = await sql<{ id: string; path: string; tx: string }>`select id, path, tx_id::text as tx from pgpulse.request_logs order by id`.execute(db);
    expect(rows.rows.map((r) => r.path)).toEqual(Array.from({ length: 250 }, (_, i) => `/n/${i}`));
    expect(new Set(rows.rows.map((r) => r.tx)).size).toBe(3);
    expect(writer.stats.notifications).toBe(3);
    // New rows without explicit ids continue after the reserved ones.
    await sql`insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id) values ('x', 'GET', '/x', 200, 1, 'desktop', 'n')`.execute(
      db,
    );
    const last = await sql<{ id: string }>`select id from pgpulse.request_logs where request_id = 'x'`.execute(db);
    expect(Number(last.rows[0]!.id)).toBeGreaterThan(Number(rows.rows.at(-1)!.id));
  });
});

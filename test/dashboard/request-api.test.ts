import { createServer, type Server } from 'node:http';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, describe, expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { expandTraceUrl } from '../../src/dashboard/trace-url.js';
import { REQUEST_AT_WINDOW_MS, requestAtQuery } from '../../src/stats/request-row.js';
import { publicColumnNames } from '../../src/schema/public-row.js';
import { makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const TRACE_URL = 'https://tempo.example/trace/{trace_id}';
const HOUR = 3_600_000;
const MINUTE = 60_000;
/** When the two requests sharing the id `dup-req` start (10 minutes apart). */
const DUP_AT = [Date.now() - 3 * HOUR, Date.now() - 3 * HOUR + 10 * MINUTE];

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

/** GET /api/request (one stored row by id, or by request id and time) and the visitor and session filters of the stats and recent rows, against the stored rows. */
describe('request detail API', () => {
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 5, cubeIntervalMs: 0, release: false });
    // Two days of rows: visitor v-1 in sessions s-1 and s-2, v-2 in s-3, some with a trace id.
    for (let i = 0; i < 60; i++)
      pulse.pubsub.publish(
        makeLog({
          visitor_id: i % 3 === 0 ? 'v-2' : 'v-1',
          session_id: i % 3 === 0 ? 's-3' : i % 2 === 0 ? 's-1' : 's-2',
          status_code: i % 7 === 0 ? 503 : 200,
          trace_id: i % 5 === 0 ? `${String(i).padStart(2, '0')}f7651916cd43dd8448eb211c80319c` : null,
          inserted_at: new Date(Date.now() - 47 * HOUR + i * 45 * 60_000),
        }),
      );
    // A request id used twice (a client's own x-request-id), 10 minutes apart.
    for (const [i, t] of DUP_AT.entries())
      pulse.pubsub.publish(makeLog({ request_id: 'dup-req', visitor_id: 'v-dup', path: `/dup/${i}`, inserted_at: new Date(t) }));
    await pulse.flush();
    dashboard = createDashboard({ db: database.db, pubsub: pulse.pubsub, traceUrl: TRACE_URL });
    server = createServer(dashboard.handler);
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await dashboard?.close();
    await pulse?.close();
  });

  test('answers one stored row by id: every public column, never the IP, with its trace link', async ({ database }) => {
    const stored = (
      await sql<{ id: string; trace_id: string }>`select * from pgpulse.request_logs where trace_id is not null order by id limit 1`.execute(database.db)
    ).rows[0]!;
    const response = await fetch(`${base}/api/request?id=${stored.id}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { row: Record<string, unknown>; traceLink: string | null };
    expect(Object.keys(body.row)).toEqual(['id', ...publicColumnNames]);
    expect(body.row).not.toHaveProperty('ip');
    expect(body.row.id).toBe(Number(stored.id));
    expect(body.row.trace_id).toBe(stored.trace_id);
    expect(body.traceLink).toBe(expandTraceUrl(TRACE_URL, stored.trace_id, null));
    const untraced = (await sql<{ id: string }>`select id from pgpulse.request_logs where trace_id is null limit 1`.execute(database.db)).rows[0]!;
    expect(((await (await fetch(`${base}/api/request?id=${untraced.id}`)).json()) as { traceLink: unknown }).traceLink).toBeNull();
  });

  test('400 for a missing or malformed id, 404 for an unknown one', async () => {
    for (const query of ['', 'id=', 'id=abc', 'id=0', 'id=-3', 'id=1.5', 'id=99999999999999999999', 'id=9223372036854775808']) {
      const response = await fetch(`${base}/api/request?${query}`);
      expect(response.status, query).toBe(400);
      // Every issue is about the id (a 20-digit one breaks two rules).
      const paths = ((await response.json()) as { issues: { path: string }[] }).issues.map((i) => i.path);
      expect(new Set(paths), query).toEqual(new Set(['id']));
    }
    const unknown = await fetch(`${base}/api/request?id=9223372036854775807`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/no stored request/);
  });

  test('answers a stored row by request id and time: the row nearest `at` within the window, as by id', async ({ database }) => {
    const stored = (
      await sql<{ id: string; request_id: string; inserted_at: Date }>`select id, request_id, inserted_at from pgpulse.request_logs
        where request_id <> 'dup-req' order by id limit 5`.execute(database.db)
    ).rows;
    for (const row of stored) {
      // As an error example gives it: the start time in ISO form (milliseconds; Postgres keeps microseconds).
      const q = new URLSearchParams({ requestId: row.request_id, at: row.inserted_at.toISOString() });
      const response = await fetch(`${base}/api/request?${q}`);
      expect(response.status, row.request_id).toBe(200);
      const byTime = (await response.json()) as { row: Record<string, unknown>; traceLink: string | null };
      const byId = (await (await fetch(`${base}/api/request?id=${row.id}`)).json()) as unknown;
      expect(byTime).toEqual(byId);
      expect(byTime.row.id).toBe(Number(row.id));
    }
    // The id used twice: each time finds its own row, epoch ms as well as ISO; too far from both, none.
    const dup = async (at: number | string) => fetch(`${base}/api/request?requestId=dup-req&at=${encodeURIComponent(String(at))}`);
    const paths = async (at: number | string) => ((await (await dup(at)).json()) as { row: { path: string } }).row.path;
    expect(await paths(new Date(DUP_AT[0]!).toISOString())).toBe('/dup/0');
    expect(await paths(DUP_AT[1]! - 50_000)).toBe('/dup/1');
    expect(await paths(DUP_AT[0]! + REQUEST_AT_WINDOW_MS)).toBe('/dup/0');
    const between = await dup(DUP_AT[0]! + 5 * MINUTE);
    expect(between.status).toBe(404);
    expect(((await between.json()) as { error: string }).error).toMatch(/no stored request with request id dup-req near /);
    expect((await dup(DUP_AT[1]! + REQUEST_AT_WINDOW_MS + 1_000)).status).toBe(404);
    expect((await fetch(`${base}/api/request?requestId=nobody&at=${Date.now() - 3 * HOUR}`)).status).toBe(404);
  });

  test('the lookup by request id reads only the partition of its window, by index (no sequential scan)', async ({ database }) => {
    const at = new Date(DUP_AT[1]!);
    const compiled = requestAtQuery('dup-req', at).compile(database.db);
    const scans = await database.db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      const explained = await trx.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        CompiledQuery.raw(`explain (format json) ${compiled.sql}`, [...compiled.parameters]),
      );
      return requestLogScans(explained.rows[0]!['QUERY PLAN'][0].Plan);
    });
    const day = (t: number) => `request_logs_p${new Date(t).toISOString().slice(0, 10).replaceAll('-', '')}`;
    const window = new Set([day(at.getTime() - REQUEST_AT_WINDOW_MS), day(at.getTime() + REQUEST_AT_WINDOW_MS)]);
    const partitions = (
      await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'pgpulse.request_logs'::regclass`.execute(database.db)
    ).rows.map((r) => r.name);
    expect(partitions.length).toBeGreaterThan(2);
    // Only the window's day (its partition when there is one, else the default), and by index.
    expect(scans.length, JSON.stringify(scans)).toBeGreaterThan(0);
    for (const scan of scans) {
      expect(scan, JSON.stringify(scans)).not.toMatch(/^Seq Scan/);
      const relation = scan.split(' on ')[1]!;
      expect(window.has(relation) || relation === 'request_logs_default', JSON.stringify(scans)).toBe(true);
    }
  });

  test('400 for a lookup by request id without its time, or with a bad one', async () => {
    const at = encodeURIComponent(new Date().toISOString());
    for (const [query, path] of [
      ['requestId=abc', 'at'],
      [`at=${at}`, 'requestId'],
      [`requestId=&at=${at}`, 'requestId'],
      ['requestId=abc&at=', 'at'],
      ['requestId=abc&at=yesterday', 'at'],
      [`requestId=${'x'.repeat(201)}&at=${at}`, 'requestId'],
      [`id=5&requestId=abc&at=${at}`, 'requestId'],
      [`id=5&at=${at}`, 'at'],
    ] as const) {
      const response = await fetch(`${base}/api/request?${query}`);
      expect(response.status, query).toBe(400);
      const issues = ((await response.json()) as { issues: { path: string }[] }).issues.map((i) => i.path);
      expect(new Set(issues), query).toEqual(new Set([path]));
    }
  });

  test('the visitor and session filters select the same rows in stats (any range) and recent rows as plain SQL', async ({ database }) => {
    const from = Date.now() - 48 * HOUR;
    for (const [key, column, value] of [
      ['visitor', 'visitor_id', 'v-1'],
      ['session', 'session_id', 's-2'],
      ['session', 'session_id', 'nobody'],
    ] as const) {
      const exact = (
        await sql<{ n: number; c5: number }>`select count(*)::int as n, count(*) filter (where status_code >= 500)::int as c5 from pgpulse.request_logs
          where ${sql.ref(column)} = ${value} and inserted_at >= ${new Date(from)}`.execute(database.db)
      ).rows[0]!;
      const stats = (await (await fetch(`${base}/api/stats?from=${from}&${key}=${value}`)).json()) as {
        totals: { requests: number; status: Record<string, number> };
        range: { source: string; filters: Record<string, string> };
      };
      expect(stats.range.source, `${key}=${value}`).toBe('raw');
      expect(stats.range.filters).toEqual({ [key]: value });
      expect(stats.totals.requests, `${key}=${value}`).toBe(exact.n);
      expect(stats.totals.status['5xx']).toBe(exact.c5);
      const recent = (await (await fetch(`${base}/api/recent?limit=200&${key}=${value}`)).json()) as { rows: Record<string, unknown>[] };
      expect(recent.rows).toHaveLength(exact.n);
      for (const row of recent.rows) expect(row[column]).toBe(value);
    }
    expect((await fetch(`${base}/api/stats?from=${from}&visitor=`)).status).toBe(400);
    expect((await fetch(`${base}/api/recent?session=${'x'.repeat(129)}`)).status).toBe(400);
  });
});

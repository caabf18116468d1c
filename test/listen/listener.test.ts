// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import pg from 'pg';
import { afterAll, describe, expect } from 'vitest';
import { BRIDGE_MESSAGE_VERSION } from '../../src/bridge/message.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createListener, type Listener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

/** A started listener and the rows it delivered, in order. */
async function startListener(url: string, options: Partial<Parameters<typeof createListener>[0]> = {}) {
  const listener = createListener({ connectionString: url, heartbeatIntervalMs: 200, ...options });
  const rows: StoredRequestLog[] = [];
  listener.pubsub.subscribe((message) => void rows.push(message.event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
  await listener.start();
  return { listener, rows };
}

describe('NOTIFY bridge listener', () => {
  let pulse: Pulse;
  let sql: pg.Pool;
  const listeners: Listener[] = [];

  const storedIds = async (where = 'true') =>
    (await sql.query<{ id: string }>(`select id from pgpulse.request_logs where ${where} order by id`)).rows.map((r) => Number(r.id));
  const idsOf = (rows: readonly StoredRequestLog[]) => rows.map((r) => r.id).sort((a, b) => a - b);
  /** Inserts `count` rows at `path` by SQL and sends `message(txId)` on the channel, in one transaction. */
  const insertAndNotify = async (path: string, nodeId: string, count: number, message: (tx: string) => object) => {
    const client = await sql.connect();
    try {
      await client.query('begin');
      await client.query(
        `insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id)
         select $1 || g, 'GET', $1, 200, 1, 'bot', $2 from generate_series(1, $3::int) g`,
        [path, nodeId, count],
      );
      const tx = (await client.query<{ tx: string }>('select pg_current_xact_id()::text as tx')).rows[0]!.tx;
      await client.query('select pg_notify($1, $2)', ['pgpulse_requests', JSON.stringify(message(tx))]);
      await client.query('commit');
    } finally {
      client.release();
    }
  };
  const track = <T extends { listener: Listener }>(started: T): T => {
    listeners.push(started.listener);
    return started;
  };

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'writer-a', notify: true, maxWaitMs: 5 });
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
  });

  afterAll(async () => {
    for (const listener of listeners) await listener.close();
    await pulse?.close();
    await sql?.end();
  });

  test('delivers every committed row once, with every field, starting from now', async ({ database }) => {
    pulse.pubsub.broadcast(makeLog({ path: '/before-start' }));
    await pulse.flush();
    const { listener, rows } = track(await startListener(database.url));
    const big = 'x'.repeat(20_000);
    for (let i = 0; i < 30; i++)
      pulse.pubsub.broadcast(makeLog({ path: `/p/${i}`, user_agent: i % 10 === 0 ? big : 'ua', ip: '10.0.0.1', node_id: i === 5 ? 'other-node' : 'writer-a' }));
    await pulse.flush();
    const expected = await storedIds(`path like '/p/%'`);
    await eventually(() => rows.length >= expected.length, 10_000, 'rows delivered');
    expect(idsOf(rows)).toEqual(expected);
    const stored = (await sql.query(`select * from pgpulse.request_logs where path like '/p/%' order by id`)).rows;
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const row of stored) {
      const { tx_id: _tx, id, response_bytes, ...rest } = row as Record<string, unknown>;
      expect(byId.get(Number(id))).toEqual({ ...rest, id: Number(id), response_bytes: response_bytes === null ? null : Number(response_bytes) });
    }
    expect(byId.get(expected[5]!)!.node_id).toBe('other-node');
    expect(listener.stats.fetched).toBeGreaterThan(0);
    expect(listener.stats.delivered).toBe(expected.length);
  });

  test('drops its own origin and ignores malformed or foreign payloads without stopping', async ({ database }) => {
    const own = track(await startListener(database.url, { nodeId: 'writer-a' }));
    const { listener, rows } = track(await startListener(database.url));
    const malformed: string[] = [];
    listener.on('malformed', (info) => malformed.push(info.payload));
    for (const payload of [
      'garbage',
      `{"v":${BRIDGE_MESSAGE_VERSION},"o":"x"}`,
      `{"v":${BRIDGE_MESSAGE_VERSION},"o":"x","b":"y","n":1,"tx":"1","r":[[1]]}`,
      '',
    ]) {
      await sql.query('select pg_notify($1, $2)', ['pgpulse_requests', payload]);
    }
    pulse.pubsub.broadcast(makeLog({ path: '/after-garbage' }));
    await pulse.flush();
    await eventually(() => rows.length === 1, 10_000, 'row after garbage');
    expect(rows[0]!.path).toBe('/after-garbage');
    expect(listener.stats.malformed).toBe(4);
    expect(malformed).toContain('garbage');
    await eventually(() => own.listener.stats.ownOrigin === 1, 10_000, 'own origin dropped');
    expect(own.rows).toEqual([]);
  });

  test('counts a message of a newer format version without an error, and delivers its rows by catch-up', async ({ database }) => {
    const { listener, rows } = track(await startListener(database.url));
    await insertAndNotify('/new-version', 'new-node', 2, (tx) => ({ v: BRIDGE_MESSAGE_VERSION + 1, o: 'new-node', b: 'b1', n: 2, tx, r: [[1, 'x']] }));
    await eventually(() => rows.length === 2, 10_000, 'rows of the newer-version message caught up');
    expect(idsOf(rows)).toEqual(await storedIds(`path = '/new-version'`));
    expect(listener.stats).toMatchObject({ otherVersion: 1, malformed: 0, caughtUp: 2 });
  });

  test('fetches by transaction id when a message carries neither rows nor ranges', async ({ database }) => {
    const { listener, rows } = track(await startListener(database.url));
    await insertAndNotify('/by-tx', 'sql-node', 3, (tx) => ({ v: BRIDGE_MESSAGE_VERSION, o: 'sql-node', b: 'b1', n: 3, tx, ids: [] }));
    await eventually(() => rows.length === 3, 10_000, 'rows fetched by tx');
    expect(idsOf(rows)).toEqual(await storedIds(`path = '/by-tx'`));
    expect(listener.stats.fetched).toBe(3);
  });

  test('counts a message of an older format version (a rolling deploy) without an error, and fetches its rows by transaction id', async ({ database }) => {
    const { listener, rows } = track(await startListener(database.url));
    const malformed: string[] = [];
    listener.on('malformed', (info) => malformed.push(info.payload));
    await insertAndNotify('/old-version', 'old-node', 2, (tx) => ({ v: 1, o: 'old-node', b: 'b1', n: 2, tx, r: [[1, 'x']] }));
    await eventually(() => rows.length === 2, 10_000, 'rows of the old-version message fetched');
    expect(idsOf(rows)).toEqual(await storedIds(`path = '/old-version'`));
    expect(listener.stats).toMatchObject({ otherVersion: 1, malformed: 0, fetched: 2, caughtUp: 0 });
    expect(malformed).toEqual([]);
  });

  test('backfills rows since a given time when asked', async ({ database }) => {
    const since = new Date();
    pulse.pubsub.broadcast(makeLog({ path: '/backfill', inserted_at: new Date(since.getTime() + 1) }));
    await pulse.flush();
    const { listener, rows } = track(await startListener(database.url, { since }));
    await eventually(() => rows.length === 1, 10_000, 'backfilled row');
    expect(rows[0]!.path).toBe('/backfill');
    expect(listener.stats.backfilled).toBe(1);
  });

  test('catches up rows committed while its backend was terminated, exactly once', async ({ database }) => {
    const { listener, rows } = track(
      await startListener(database.url, { minReconnectDelayMs: 1_000, maxReconnectDelayMs: 1_000, applicationName: 'pgpulse-listen-catchup' }),
    );
    const events: string[] = [];
    listener.on('disconnected', () => events.push('disconnected'));
    listener.on('reconnected', () => events.push('reconnected'));
    listener.on('caughtUp', ({ reason }) => events.push(reason === 'reconnect' ? 'caughtUp' : 'periodic'));
    let writing = true;
    const traffic = (async () => {
      for (let i = 0; writing; i++) {
        pulse.pubsub.broadcast(makeLog({ path: `/steady/${i}` }));
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 2));
      }
    })();
    for (let round = 0; round < 2; round++) {
      const delivered = rows.length;
      await eventually(() => rows.length >= delivered + 20, 10_000, 'rows delivered before the termination');
      await sql.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgpulse-listen-catchup' and datname = current_database()`,
      );
      await eventually(() => events.filter((e) => e === 'disconnected').length === round + 1, 10_000, 'disconnect');
      // Rows committed now without a NOTIFY can only arrive by catch-up, whenever the listener is back (its first
      // reconnect attempt is immediate: rows the pulse wrote here once came by NOTIFY, 35 caught up, not 40).
      await sql.query(
        `insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id)
         select 'gap' || g, 'GET', '/gap/' || $1 || '/' || g, 200, 1, 'bot', 'writer-b' from generate_series(1, 20) g`,
        [round],
      );
      await eventually(() => listener.stats.reconnects === round + 1, 10_000, 'reconnect');
    }
    writing = false;
    await traffic;
    await pulse.flush();
    const expected = await storedIds(`path like '/steady/%' or path like '/gap/%'`);
    await eventually(() => rows.length >= expected.length && listener.stats.queued === 0, 15_000, 'all rows delivered');
    const ids = idsOf(rows);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expected);
    expect(listener.stats.caughtUp).toBeGreaterThanOrEqual(40);
    expect(events.filter((e) => e === 'disconnected')).toHaveLength(2);
    expect(events.filter((e) => e === 'caughtUp')).toHaveLength(2);
  });

  test('validates options, rejects start() after close() and closes idempotently', async ({ database }) => {
    expect(() => createListener({})).toThrow(/listenConnectionString or connectionString/);
    expect(() => createListener({ connectionString: database.url, heartbeatIntervalMs: -1 })).toThrow(/heartbeatIntervalMs/);
    const listener = createListener({ connectionString: database.url });
    await listener.start();
    await Promise.all([listener.close(), listener.close()]);
    await listener[Symbol.asyncDispose]();
    await expect(listener.start()).rejects.toThrow(/after close/);
    const unreachable = createListener({ connectionString: 'postgres://postgres@127.0.0.1:1/nowhere', connectTimeoutMs: 2_000 });
    await expect(unreachable.start()).rejects.toThrow(/cannot LISTEN on channel "pgpulse_requests"/);
    await unreachable.close();
  });
});

import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createListener, type Listener, type ListenerOptions } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { requestLogColumnNames } from '../../src/schema/columns.js';
import { toStoredRow } from '../../src/store/fetch-rows.js';
import { adminQuery, withDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually, makeLog } from '../support/fixtures.js';

/**
 * How the proxy damages the stream: the next pgoutput Insert it forwards gets
 * an unknown relation id or an unknown tag, or (`after-start`) the next
 * replication start is followed, in the same read, by a message with an unknown tag.
 */
type Damage = 'unknown-relation' | 'unknown-tag' | 'after-start';

/** A CopyData XLogData message (zero positions and time) carrying `payload` as its pgoutput message. */
function xLogData(payload: Buffer): Buffer {
  const header = Buffer.alloc(1 + 4 + 1 + 24);
  header[0] = 0x64;
  header.writeUInt32BE(4 + 1 + 24 + payload.length, 1);
  header[5] = 0x77;
  return Buffer.concat([header, payload]);
}

/**
 * TCP proxy to Postgres that reads the server's messages (type byte, int32
 * length) and, when armed, damages the next pgoutput Insert inside a CopyData
 * XLogData message: a relation id the stream never described, or a message
 * tag pgoutput does not have. A fault injector between a real server and the
 * listener, as a bug, a bit flip or a future protocol would produce.
 */
async function startDamagingProxy(
  target: URL,
): Promise<{ url: (databaseUrl: string) => string; damageNextInsert(damage: Damage): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let armed: Damage | undefined;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let end = 0;
      const out: Buffer[] = [];
      while (pending.length - end >= 5) {
        const length = pending.readUInt32BE(end + 1);
        if (pending.length - end < 1 + length) break;
        const message = pending.subarray(end, end + 1 + length);
        out.push(message);
        // 'd' CopyData holding 'w' XLogData (25-byte header) whose pgoutput message is 'I' Insert.
        if ((armed === 'unknown-relation' || armed === 'unknown-tag') && message[0] === 0x64 && message[5] === 0x77 && message[30] === 0x49) {
          if (armed === 'unknown-relation') message.writeUInt32BE(0x7fff_fff0, 31);
          else message[30] = 0x5a;
          armed = undefined;
        }
        // 'W' CopyBothResponse: the replication stream starts.
        if (armed === 'after-start' && message[0] === 0x57) {
          out.push(xLogData(Buffer.from('Z')));
          armed = undefined;
        }
        end += 1 + length;
      }
      client.write(Buffer.concat(out));
      pending = pending.subarray(end);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (databaseUrl) => {
      const u = new URL(databaseUrl);
      u.port = String(port);
      return u.toString();
    },
    damageNextInsert(damage) {
      armed = damage;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The `wal` transport on an embedded Postgres with wal_level=logical, against
 * what a long-running stream meets: undecodable messages, a table that gains
 * columns, other tables in the publication, and day partitions attached by
 * maintenance. No crash, no loss, no duplicate; degraded modes are events and
 * counters.
 */
describe('wal transport stream robustness', () => {
  let postgres: EmbeddedServer;
  let url: string;
  let pulse: Pulse;
  let sql: pg.Pool;
  let listener: Listener | undefined;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres({ postgresFlags: ['-c', 'wal_level=logical'] });
    await adminQuery(postgres.url, 'create database wal_stream');
    url = withDatabase(postgres.url, 'wal_stream');
    pulse = createPulse({ connectionString: url, nodeId: 'stream-writer', notify: false, maxWaitMs: 5 });
    await pulse.migrate();
    sql = new pg.Pool({ connectionString: url, max: 2 });
    // pool.end() does not wait for the sockets: the shutdown in afterAll may still reach one.
    sql.on('error', () => {});
  }, 180_000);

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  afterAll(async () => {
    await pulse?.close();
    await sql?.end();
    await postgres?.dispose();
  });

  /** Starts a wal listener collecting what it delivers. */
  async function listen(listenConnectionString = url, options: Partial<ListenerOptions> = {}): Promise<{ listener: Listener; rows: StoredRequestLog[] }> {
    const l = createListener({
      ...options,
      transport: 'wal',
      connectionString: url,
      listenConnectionString,
      heartbeatIntervalMs: 200,
      minReconnectDelayMs: 50,
      maxReconnectDelayMs: 300,
    });
    listener = l;
    const rows: StoredRequestLog[] = [];
    l.pubsub.subscribe((m) => void rows.push(m.event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
    await l.start();
    return { listener: l, rows };
  }

  const write = async (prefix: string, n: number, overrides: Partial<StoredRequestLog> = {}) => {
    for (let i = 0; i < n; i++) pulse.pubsub.broadcast(makeLog({ path: `/${prefix}/${i}`, node_id: 'stream-writer', ...overrides }));
    await pulse.flush();
  };

  /** Every committed row under `prefix` delivered, each once. */
  async function exactlyOnce(l: Listener, rows: readonly StoredRequestLog[], prefix: string, count: number): Promise<void> {
    const expected = (await sql.query<{ id: string }>(`select id from pgpulse.request_logs where path like $1 order by id`, [`/${prefix}/%`])).rows.map((r) =>
      Number(r.id),
    );
    expect(expected).toHaveLength(count);
    const mine = () => rows.filter((r) => r.path.startsWith(`/${prefix}/`));
    await eventually(() => mine().length >= count && l.stats.queued === 0, 15_000, `${count} /${prefix}/ rows delivered`);
    expect(
      mine()
        .map((r) => r.id)
        .sort((a, b) => a - b),
    ).toEqual(expected);
  }

  it.each(['unknown-relation', 'unknown-tag'] as const)(
    'an undecodable message (%s) is counted as malformed, the stream replaced, and its rows caught up',
    async (damage) => {
      const proxy = await startDamagingProxy(new URL(url));
      try {
        const { listener: l, rows } = await listen(proxy.url(url));
        const malformed: { payload: string; error: Error }[] = [];
        l.on('malformed', (info) => malformed.push(info));
        await write(`${damage}-before`, 10);
        await eventually(() => l.stats.streamed === 10, 10_000, 'rows streamed before the damage');
        proxy.damageNextInsert(damage);
        await write(`${damage}-damaged`, 10);
        await eventually(() => l.stats.reconnects === 1, 10_000, 'the stream replaced');
        await write(`${damage}-after`, 10);
        for (const part of ['before', 'damaged', 'after']) await exactlyOnce(l, rows, `${damage}-${part}`, 10);
        expect(l.stats.malformed).toBe(1);
        expect(l.stats.disconnects).toBe(1);
        expect(malformed).toEqual([
          {
            payload: expect.stringMatching(/^pgoutput message/) as unknown,
            error: expect.objectContaining({
              message: expect.stringMatching(damage === 'unknown-relation' ? /missing relation/ : /unknown pgoutput message/) as unknown,
            }) as unknown,
          },
        ]);
      } finally {
        await listener?.close();
        await proxy.close();
      }
    },
    60_000,
  );

  it('a row from the WAL equals the same row read by SQL, column by column (both go through the column list)', async () => {
    // No periodic catch-up within the test: every row comes from the stream.
    const { listener: l, rows } = await listen(url, { heartbeatIntervalMs: 600_000 });
    await write('same-a', 3);
    await write('same-b', 3, {
      route: null,
      response_bytes: 9_007_199_254_740_000,
      referer: 'https://ref.example/page?q=1',
      referer_host: 'ref.example',
      browser: 'Firefox',
      os: 'Linux',
      country: 'DE',
      ip: '203.0.113.9',
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      attributes: { plan: 'pro', seats: 3, beta: true },
      inserted_at: new Date('2026-11-30T08:00:00.123Z'),
    });
    await eventually(() => rows.length === 6 && l.stats.queued === 0, 10_000, 'rows streamed');
    expect(l.stats.streamed).toBe(6);
    expect(l.stats.caughtUp).toBe(0);
    const bySql = await sql.query(`select * from pgpulse.request_logs where path like '/same-%' order by id`);
    expect([...rows].sort((a, b) => a.id - b.id)).toEqual(bySql.rows.map(toStoredRow));
    expect(rows.find((r) => r.path === '/same-b/0')).toMatchObject({
      response_bytes: 9_007_199_254_740_000,
      country: 'DE',
      route: null,
      attributes: { plan: 'pro', seats: 3, beta: true },
    });
  });

  it('a stream lost in the same read as its start is not taken for a live one: the attempt fails and the next one streams', async () => {
    const proxy = await startDamagingProxy(new URL(url));
    try {
      const { listener: l, rows } = await listen(proxy.url(url));
      const refused: string[] = [];
      l.on('listenerError', ({ error, phase }) => phase === 'connect' && refused.push(error.message));
      await write('start-before', 5);
      await eventually(() => l.stats.streamed === 5, 10_000, 'rows streamed before');
      proxy.damageNextInsert('after-start');
      const walsender = await sql.query<{ pid: number }>(
        `select pid from pg_stat_activity where backend_type = 'walsender' and application_name = 'pgpulse-listen'`,
      );
      for (const { pid } of walsender.rows) await sql.query('select pg_terminate_backend($1)', [pid]);
      await eventually(() => l.stats.reconnects === 1, 10_000, 'reconnected');
      expect(l.stats.malformed).toBe(1);
      expect(refused).toEqual([expect.stringMatching(/undecodable pgoutput message.*unknown pgoutput message/)]);
      await write('start-after', 5);
      await eventually(() => l.stats.streamed === 10, 10_000, 'rows streamed on the new stream');
      await exactlyOnce(l, rows, 'start-before', 5);
      await exactlyOnce(l, rows, 'start-after', 5);
      expect(l.stats.disconnects).toBe(1);
    } finally {
      await listener?.close();
      await proxy.close();
    }
  });

  it('a publication dropped while streaming: reconnects are refused naming it, the catch-up delivers meanwhile, streaming resumes once it is back', async () => {
    const { listener: l, rows } = await listen();
    const refused: string[] = [];
    l.on('listenerError', ({ error, phase }) => phase === 'connect' && refused.push(error.message));
    await write('pub-before', 5);
    await eventually(() => l.stats.streamed === 5, 10_000, 'rows streamed before');
    const create = `create publication pgpulse_request_logs for table pgpulse.request_logs with (publish = 'insert', publish_via_partition_root = true)`;
    await sql.query('drop publication pgpulse_request_logs');
    try {
      await write('pub-gone', 5);
      await eventually(() => refused.some((m) => /publication "pgpulse_request_logs" does not exist/.test(m)), 15_000, 'a refused reconnect');
      await exactlyOnce(l, rows, 'pub-gone', 5);
    } finally {
      await sql.query(create);
    }
    await eventually(() => l.stats.reconnects === l.stats.disconnects, 15_000, 'reconnected');
    const streamed = l.stats.streamed;
    await write('pub-back', 5);
    await eventually(() => l.stats.streamed === streamed + 5, 10_000, 'rows streamed again');
    await exactlyOnce(l, rows, 'pub-before', 5);
    await exactlyOnce(l, rows, 'pub-back', 5);
    expect(l.stats.disconnects).toBeGreaterThanOrEqual(1);
  });

  it('rows decode by the column list while the table gains columns and other tables share the publication', async () => {
    const { listener: l, rows } = await listen();
    await write('columns-before', 5);
    await eventually(() => l.stats.streamed === 5, 10_000, 'rows streamed before the change');
    // A column pgpulse does not know (another version's, or an operator's).
    await sql.query(`alter table pgpulse.request_logs add column wal_test_extra jsonb default '{"a": 1}'`);
    await sql.query(`create table public.wal_test_other (id int primary key, note text)`);
    await sql.query(`alter publication pgpulse_request_logs add table public.wal_test_other`);
    try {
      await write('columns-after', 5);
      // One transaction inserting into both published tables.
      await sql.query(
        `with other as (insert into public.wal_test_other values (1, 'x'))
         insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id)
         values ('columns-mixed', 'GET', '/columns-mixed/0', 200, 1, 'desktop', 'stream-writer')`,
      );
      for (const [prefix, count] of [
        ['columns-before', 5],
        ['columns-after', 5],
        ['columns-mixed', 1],
      ] as const)
        await exactlyOnce(l, rows, prefix, count);
      expect(l.stats.streamed).toBe(11);
      expect(l.stats.disconnects).toBe(0);
      expect(l.stats.malformed).toBe(0);
      // Rows carry the column list, no more: the unknown column is not passed on.
      const after = rows.find((r) => r.path === '/columns-after/0')!;
      expect(Object.keys(after).sort()).toEqual(['id', ...requestLogColumnNames].sort());
      const mixed = rows.find((r) => r.path === '/columns-mixed/0')!;
      expect(mixed).toMatchObject({ request_id: 'columns-mixed', route: null, response_bytes: null, status_code: 200 });
    } finally {
      await sql.query(`alter publication pgpulse_request_logs drop table public.wal_test_other`);
      await sql.query(`drop table public.wal_test_other`);
      await sql.query(`alter table pgpulse.request_logs drop column wal_test_extra`);
    }
  });

  it('a transaction larger than maxTrackedRows is not buffered from the stream: the catch-up delivers it, once', async () => {
    const { listener: l, rows } = await listen(url, { maxTrackedRows: 100 });
    await write('large-small', 5);
    await sql.query(
      `insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id)
       select 'large-' || i, 'GET', '/large-bulk/' || i, 200, 1, 'desktop', 'stream-writer' from generate_series(1, 250) i`,
    );
    await write('large-after', 5);
    await exactlyOnce(l, rows, 'large-small', 5);
    await exactlyOnce(l, rows, 'large-bulk', 250);
    await exactlyOnce(l, rows, 'large-after', 5);
    expect(l.stats.streamSkipped).toBe(250);
    expect(l.stats.streamed).toBe(10);
    expect(l.stats.caughtUpPeriodic).toBeGreaterThanOrEqual(250);
    expect(l.stats.disconnects).toBe(0);
  });

  it('partitions attached by maintenance mid-stream: rows moved out of the default partition are not delivered again', async () => {
    const { listener: l, rows } = await listen();
    // A day without a partition: its rows land in the default partition.
    const day = new Date(Date.UTC(2031, 0, 15, 12));
    await write('partition-default', 10, { inserted_at: day });
    await exactlyOnce(l, rows, 'partition-default', 10);
    const inDefault = await sql.query(`select count(*)::int as n from pgpulse.request_logs_default where path like '/partition-default/%'`);
    expect(inDefault.rows[0].n).toBe(10);
    // Maintenance gives the day its partition: the rows are deleted from the
    // default partition and inserted again (same id and tx_id) into the new one.
    const created = await sql.query<{ created: boolean }>(`select pgpulse.ensure_partition('2031-01-15') as created`);
    expect(created.rows[0]!.created).toBe(true);
    const inPartition = await sql.query(`select count(*)::int as n from pgpulse.request_logs_p20310115 where path like '/partition-default/%'`);
    expect(inPartition.rows[0].n).toBe(10);
    await write('partition-new', 10, { inserted_at: day });
    await exactlyOnce(l, rows, 'partition-new', 10);
    await eventually(() => l.stats.streamed === 30 && l.stats.queued === 0, 10_000, 'the moved rows streamed too');
    await exactlyOnce(l, rows, 'partition-default', 10);
    expect(l.stats.duplicatesSkipped).toBeGreaterThanOrEqual(10);
    expect(l.stats.delivered).toBe(20);
    expect(l.stats.disconnects).toBe(0);
  });
});

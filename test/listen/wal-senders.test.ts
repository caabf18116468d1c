import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createListener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { spawnCli } from '../bridge/fixtures/spawn-tail.js';
import { adminQuery, withDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually, makeLog } from '../support/fixtures.js';

/**
 * The `wal` transport when every WAL sender is taken (`max_wal_senders`), on
 * an embedded Postgres with two senders and more slots than that (so slots are
 * never the limit): start() and `pgpulse tail --transport wal` fail naming the
 * setting; a running listener that loses its sender keeps retrying (one
 * `listenerError` per attempt, rows still delivered by the periodic
 * catch-up), and streams again once a sender is free.
 */
describe('wal transport with every WAL sender taken', () => {
  const SENDERS = 2;
  let postgres: EmbeddedServer;
  let url: string;
  let pulse: Pulse;
  let sql: pg.Pool;
  const held: pg.Client[] = [];

  /** Takes one WAL sender: an idle replication connection holds it. Rejects when none is free. */
  async function holdSender(): Promise<void> {
    const client = new pg.Client({ connectionString: url, replication: 'database' } as pg.ClientConfig);
    client.on('error', () => {});
    await client.connect();
    held.push(client);
  }

  async function releaseSenders(): Promise<void> {
    await Promise.all(held.splice(0).map((client) => client.end()));
  }

  const walsenders = async () =>
    (await adminQuery(url, `select pid, application_name from pg_stat_activity where backend_type = 'walsender'`)).rows as {
      pid: number;
      application_name: string;
    }[];

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres({
      postgresFlags: ['-c', 'wal_level=logical', '-c', `max_wal_senders=${SENDERS}`, '-c', 'max_replication_slots=8'],
    });
    await adminQuery(postgres.url, 'create database wal_senders');
    url = withDatabase(postgres.url, 'wal_senders');
    pulse = createPulse({ connectionString: url, nodeId: 'senders-writer', notify: false, maxWaitMs: 5 });
    await pulse.migrate();
    sql = new pg.Pool({ connectionString: url, max: 2 });
    // pool.end() does not wait for the sockets: the shutdown in afterAll may still reach one.
    sql.on('error', () => {});
  }, 180_000);

  afterAll(async () => {
    await releaseSenders();
    await pulse?.close();
    await sql?.end();
    await postgres?.dispose();
  });

  it('start() and `pgpulse tail --transport wal` fail naming max_wal_senders', async () => {
    for (let i = 0; i < SENDERS; i++) await holdSender();
    try {
      await expect(holdSender()).rejects.toThrow(/exceeds "?max_wal_senders"? \(currently 2\)/);
      const listener = createListener({ transport: 'wal', connectionString: url });
      const error = await listener.start().then(
        () => new Error('start() resolved'),
        (e: unknown) => e as Error,
      );
      await listener.close();
      expect(error.message).toMatch(/all WAL senders are in use: raise max_wal_senders/);
      expect(error.message).toMatch(/Postgres: number of requested standby connections exceeds "?max_wal_senders"? \(currently 2\)/);
      expect(error.message).toMatch(/pg_stat_replication/);

      const child = spawnCli(['tail', '--transport', 'wal', '--database-url', url]);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(exitCodes.unreachable);
      expect(stderr).toMatch(/all WAL senders are in use: raise max_wal_senders/);
    } finally {
      await releaseSenders();
    }
  }, 60_000);

  it('a listener that loses its sender retries, still delivers by catch-up, and streams again once one is free', async () => {
    const listener = createListener({
      transport: 'wal',
      connectionString: url,
      heartbeatIntervalMs: 200,
      minReconnectDelayMs: 200,
      maxReconnectDelayMs: 400,
    });
    const rows: StoredRequestLog[] = [];
    listener.pubsub.subscribe((m) => void rows.push(m.event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
    const refused: string[] = [];
    listener.on('listenerError', ({ error, phase }) => phase === 'connect' && refused.push(error.message));
    const write = async (prefix: string, n: number) => {
      for (let i = 0; i < n; i++) pulse.pubsub.broadcast(makeLog({ path: `/senders/${prefix}/${i}`, node_id: 'senders-writer' }));
      await pulse.flush();
    };
    await listener.start();
    try {
      await write('before', 20);
      await eventually(() => listener.stats.streamed === 20, 10_000, 'rows streamed before the loss');

      // Take the listener's sender away: terminate its walsender and occupy
      // every sender before its retry does (again if the retry wins the race).
      await holdSender();
      await eventually(
        async () => {
          if (held.length === SENDERS) return true;
          for (const { pid } of (await walsenders()).filter((w) => w.application_name === 'pgpulse-listen')) {
            await adminQuery(url, 'select pg_terminate_backend($1)', [pid]);
          }
          await holdSender().catch(() => {});
          return held.length === SENDERS;
        },
        20_000,
        'every sender held by the test',
      );
      await eventually(() => refused.some((m) => /all WAL senders are in use: raise max_wal_senders/.test(m)), 10_000, 'a refused reconnect');
      expect(listener.stats.disconnects).toBeGreaterThanOrEqual(1);
      expect(listener.stats.reconnects).toBe(listener.stats.disconnects - 1);

      // Down, but not blind: the heartbeat's catch-up delivers committed rows.
      const streamedWhileDown = listener.stats.streamed;
      await write('down', 20);
      await eventually(() => rows.filter((r) => r.path.startsWith('/senders/down/')).length === 20, 10_000, 'rows caught up while down');
      expect(listener.stats.streamed).toBe(streamedWhileDown);
      expect(listener.stats.caughtUpPeriodic).toBeGreaterThanOrEqual(20);

      await releaseSenders();
      await eventually(() => listener.stats.reconnects === listener.stats.disconnects, 20_000, 'reconnect once a sender is free');
      await write('after', 20);
      await eventually(() => listener.stats.streamed >= streamedWhileDown + 20, 10_000, 'rows streamed again');

      const expected = (await sql.query<{ id: string }>(`select id from pgpulse.request_logs where path like '/senders/%' order by id`)).rows.map((r) =>
        Number(r.id),
      );
      expect(expected).toHaveLength(60);
      await eventually(() => rows.length >= expected.length && listener.stats.queued === 0, 10_000, 'every row delivered');
      const ids = rows.map((r) => r.id).sort((a, b) => a - b);
      expect(ids).toEqual(expected);
    } finally {
      await listener.close();
    }
  }, 90_000);
});

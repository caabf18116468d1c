import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createListener, type Listener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually, makeLog } from '../support/fixtures.js';

/** TCP proxy to Postgres whose open connections can be silently black-holed (a network drop without FIN/RST). */
async function startProxy(target: URL): Promise<{ url: (databaseUrl: string) => string; blackhole(): void; close(): Promise<void> }> {
  const pairs: [Socket, Socket][] = [];
  const dead: Socket[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (databaseUrl) => {
      const u = new URL(databaseUrl);
      u.port = String(port);
      return u.toString();
    },
    blackhole() {
      for (const [client, upstream] of pairs.splice(0)) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        // Released only when the proxy closes, like a dead route.
        dead.push(client, upstream);
      }
    },
    close: () => {
      for (const socket of [...dead, ...pairs.flat()]) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function exactlyOnce(sql: pg.Pool, rows: readonly StoredRequestLog[], listener: Listener, where: string): Promise<void> {
  const expected = (await sql.query<{ id: string }>(`select id from pgpulse.request_logs where ${where} order by id`)).rows.map((r) => Number(r.id));
  await eventually(() => rows.length >= expected.length && listener.stats.queued === 0, 20_000, `${expected.length} rows delivered`);
  const ids = rows.map((r) => r.id).sort((a, b) => a - b);
  expect(ids.length).toBe(new Set(ids).size);
  expect(ids).toEqual(expected);
}

/** The same outages on both transports: NOTIFY (pg-listen) and the WAL (logical replication). */
describe.each(['notify', 'wal'] as const)('listener through outages (%s transport)', (transport) => {
  let postgres: EmbeddedServer;
  let database: TestDatabase;
  let pulse: Pulse;
  let sql: pg.Pool;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres();
    // Logical decoding for the wal transport (the notify one does not care).
    await adminQuery(postgres.url, 'alter system set wal_level = logical');
    await postgres.stop();
    await postgres.start();
    database = await createTestDatabase(postgres.url);
    pulse = createPulse({
      connectionString: database.url,
      nodeId: 'outage-writer',
      notify: transport === 'notify',
      maxWaitMs: 5,
      minBackoffMs: 20,
      maxBackoffMs: 200,
    });
    await pulse.migrate();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
    sql.on('error', () => {});
  }, 180_000);

  afterAll(async () => {
    await pulse?.close();
    await sql?.end();
    await postgres?.dispose();
  });

  /** Requests arriving about every 3 ms (a pace, not a wait) until `stop()`; `sent()` counts them. */
  const steadyTraffic = (prefix: string) => {
    let running = true;
    let i = 0;
    const done = (async () => {
      while (running) {
        pulse.pubsub.broadcast(makeLog({ path: `/${prefix}/${i++}`, node_id: 'outage-writer' }));
        await sleep(3);
      }
    })();
    return {
      sent: () => i,
      async stop() {
        running = false;
        await done;
        await pulse.flush();
      },
    };
  };

  it('delivers every row exactly once across a Postgres restart', async () => {
    const listener = createListener({
      transport,
      connectionString: database.url,
      heartbeatIntervalMs: 200,
      minReconnectDelayMs: 50,
      maxReconnectDelayMs: 300,
    });
    const rows: StoredRequestLog[] = [];
    listener.pubsub.subscribe((m) => void rows.push(m.event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
    let reconnectFailures = 0;
    listener.on('listenerError', (info) => info.phase === 'connect' && reconnectFailures++);
    await listener.start();
    try {
      const traffic = steadyTraffic('restart');
      await eventually(() => rows.length >= 20, 10_000, 'rows delivered before the restart');
      await postgres.stop();
      // Down until the listener has failed to reconnect and requests arrived meanwhile.
      const sentBeforeStop = traffic.sent();
      await eventually(() => reconnectFailures > 0 && traffic.sent() >= sentBeforeStop + 20, 10_000, 'failed reconnects and traffic while down');
      await postgres.start();
      await eventually(() => listener.stats.reconnects === 1, 20_000, 'reconnect after restart');
      const deliveredAtReconnect = rows.length;
      await eventually(() => rows.length >= deliveredAtReconnect + 20, 10_000, 'rows delivered after the restart');
      await traffic.stop();
      await exactlyOnce(sql, rows, listener, `path like '/restart/%'`);
      expect(listener.stats.disconnects).toBe(1);
      expect(reconnectFailures).toBeGreaterThan(0);
    } finally {
      await listener.close();
    }
  }, 60_000);

  it('detects a silent network drop by heartbeat and catches up', async () => {
    const proxy = await startProxy(new URL(postgres.url));
    const listener = createListener({
      transport,
      listenConnectionString: proxy.url(database.url),
      connectionString: database.url,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 500,
      minReconnectDelayMs: 50,
    });
    const rows: StoredRequestLog[] = [];
    listener.pubsub.subscribe((m) => void rows.push(m.event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
    const lost: string[] = [];
    listener.on('disconnected', ({ error }) => lost.push(error.message));
    await listener.start();
    try {
      const traffic = steadyTraffic('drop');
      await eventually(() => rows.length >= 20, 10_000, 'rows delivered before the drop');
      proxy.blackhole();
      await eventually(() => listener.stats.reconnects === 1, 10_000, 'reconnect after the drop');
      const deliveredAtReconnect = rows.length;
      await eventually(() => rows.length >= deliveredAtReconnect + 20, 10_000, 'rows delivered after the reconnect');
      await traffic.stop();
      await exactlyOnce(sql, rows, listener, `path like '/drop/%'`);
      expect(lost).toEqual([expect.stringMatching(/did not answer (the connection check )?within 500 ms/)]);
      expect(listener.stats.caughtUp).toBeGreaterThan(0);
    } finally {
      await listener.close();
      await proxy.close();
    }
  }, 60_000);
});

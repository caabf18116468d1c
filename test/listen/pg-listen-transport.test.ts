// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { createListener } from '../../src/listen/index.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/fixtures.js';

/** TCP proxy to Postgres that can cut every connection and refuse new ones, and counts connection attempts. */
async function startGate(databaseUrl: string) {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let open = true;
  let attempts = 0;
  /** Client ports of connections accepted so far, and probes waiting to be accepted (see `probe()`). */
  const acceptedPorts = new Map<number, number>(); // client port → sequence number of its accept
  let accepts = 0;
  const probes = new Map<number, () => void>();
  const server: Server = createServer((client) => {
    const port = client.remotePort ?? 0;
    const probe = probes.get(port);
    if (probe) {
      probes.delete(port);
      client.destroy();
      probe();
      return;
    }
    acceptedPorts.set(port, ++accepts);
    attempts++;
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    get attempts() {
      return attempts;
    },
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    /**
     * Resolves once the gate accepted a connection of ours (not counted as an
     * attempt). Accepts are in order: every connect that reached the gate
     * before it has been counted by then.
     */
    async probe(): Promise<void> {
      const since = accepts;
      const socket = connect(Number(url.port), '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const port = socket.localPort ?? 0;
      // Accepted (and counted) before we knew its port; an older connection from the same port does not count.
      if ((acceptedPorts.get(port) ?? 0) > since) attempts--;
      else await new Promise<void>((resolve) => probes.set(port, resolve));
      socket.destroy();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** pg-listen's reconnect loop is wrapped: it must stop on close() even mid-outage, and never give up before. */
describe('LISTEN transport on pg-listen', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    const migrator = createPulse({ connectionString: database.url, store: false });
    await migrator.migrate();
    await migrator.close();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('keeps reconnecting through a long outage (past pg-listen’s 3 s default give-up), and stops for good on close()', async () => {
    const gate = await startGate(database.url);
    const listener = createListener({ listenConnectionString: gate.url, connectionString: database.url, minReconnectDelayMs: 50, maxReconnectDelayMs: 200 });
    const failures: number[] = [];
    listener.on('listenerError', ({ phase }) => phase === 'connect' && failures.push(Date.now()));
    const disconnects: string[] = [];
    listener.on('disconnected', ({ error }) => disconnects.push(error.message));
    try {
      await listener.start();
      try {
        gate.cut();
        await eventually(() => disconnects.length === 1, 10_000, 'disconnect');
        expect(disconnects[0]).toMatch(/LISTEN connection was closed/);
        const outageStart = Date.now();
        await eventually(() => failures.length > 0 && failures.at(-1)! - outageStart > 3_500, 15_000, 'failed reconnects for more than 3.5 s');
      } finally {
        await listener.close();
      }
      // A TCP connect already in flight when close() ran may still reach the gate
      // (it was started before close): a probe accepted after it counts it, then no attempt may follow.
      await gate.probe();
      const attemptsAfterClose = gate.attempts;
      // Absence check (not synchronisation): longer than the largest retry delay (200 ms ± 25%) several times over.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(gate.attempts).toBe(attemptsAfterClose);
    } finally {
      await gate.close();
    }
  }, 30_000);
});

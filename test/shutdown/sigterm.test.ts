// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
/**
 * A deploy: SIGTERM while a client sends at full rate, in each framework, the
 * app shut down by `pulse.closeOnSignals({ servers })`. Every 2xx answer the
 * client saw is stored, and the process exits promptly; with Postgres gone at
 * the signal, it exits within `closeTimeoutMs` and counts what it dropped.
 */
import { createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect } from 'vitest';
import { test } from '../support/migrated-database.js';
import { adapterNames } from '../support/four-apps.js';
import { fullRateClient, startDeployApp } from './traffic.js';

describe('SIGTERM under full-rate traffic', () => {
  for (const framework of adapterNames) {
    test(`${framework}: every 2xx answer is stored and the process exits promptly`, async ({ database }) => {
      await database.pool.query('truncate pgpulse.request_logs');
      const app = await startDeployApp(framework, { TEST_DATABASE_URL: database.url });
      try {
        const client = fullRateClient(app.port, app.exited);
        await client.reached(500);
        const signalledAt = performance.now();
        app.child.kill('SIGTERM');
        const exit = await app.exited;
        const tally = await client.done;
        const exitMs = exit.at - signalledAt;
        const { rows } = await database.pool.query<{ ok: string; other: string }>(
          `select count(*) filter (where status_code between 200 and 299) as ok, count(*) filter (where status_code not between 200 and 299) as other
             from pgpulse.request_logs`,
        );
        console.log(
          `${framework}: ${tally.ok} 2xx answers, ${rows[0]!.ok} stored (${Number(rows[0]!.ok) - tally.ok} difference), ` +
            `exit ${exitMs.toFixed(0)} ms after SIGTERM (${exit.signal ?? exit.code})`,
        );
        expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
        expect(Number(rows[0]!.ok)).toBe(tally.ok);
        // Measured 157-695 ms on a quiet machine, up to 2.4 s at a load average of 21 on 2 cores: what is asserted
        // is that nothing waits for a timeout (closeTimeoutMs 10 s, pg's 10 s idle timeout), not a speed.
        expect(exitMs).toBeLessThan(5_000);
        const stats = JSON.parse(app.lines.find((line) => line.startsWith('stats '))!.slice('stats '.length)) as { dropped: number; pending: number };
        expect(stats).toMatchObject({ dropped: 0, pending: 0 });
      } finally {
        app.child.kill('SIGKILL');
      }
    }, 60_000);
  }

  test('Postgres gone at SIGTERM: exits within closeTimeoutMs, counts the rows it dropped', async ({ database }) => {
    await database.pool.query('truncate pgpulse.request_logs');
    const proxy = await startProxy(Number(new URL(database.url).port || 5432));
    const url = new URL(database.url);
    url.port = String(proxy.port);
    url.hostname = '127.0.0.1';
    const closeTimeoutMs = 1_500;
    // Rows wait 1 s before a write starts, so some are always buffered when Postgres goes.
    const app = await startDeployApp('express', { TEST_DATABASE_URL: url.href, TEST_CLOSE_TIMEOUT_MS: String(closeTimeoutMs), TEST_MAX_WAIT_MS: '1000' });
    try {
      const client = fullRateClient(app.port, app.exited);
      await client.reached(500);
      await proxy.stop();
      const signalledAt = performance.now();
      app.child.kill('SIGTERM');
      const exit = await app.exited;
      const tally = await client.done;
      const exitMs = exit.at - signalledAt;
      const stored = Number((await database.pool.query<{ n: string }>('select count(*) as n from pgpulse.request_logs')).rows[0]!.n);
      const stats = JSON.parse(app.lines.find((line) => line.startsWith('stats '))!.slice('stats '.length)) as { dropped: number; pending: number };
      const drops = app.lines
        .filter((line) => line.startsWith('drop '))
        .map((line) => JSON.parse(line.slice('drop '.length)) as { count: number; reason: string });
      console.log(`Postgres gone: ${tally.ok} answered, ${stored} stored, ${stats.dropped} dropped; exit ${exitMs.toFixed(0)} ms after SIGTERM`);
      expect(exitMs).toBeLessThan(closeTimeoutMs + 500);
      expect(stats.pending).toBe(0);
      expect(stats.dropped).toBeGreaterThan(0);
      expect(drops.every((drop) => drop.reason === 'close_timeout')).toBe(true);
      expect(drops.reduce((sum, drop) => sum + drop.count, 0)).toBe(stats.dropped);
      // Nothing vanishes unaccounted: every answer is stored or counted as dropped.
      expect(stored + stats.dropped).toBe(tally.ok);
    } finally {
      app.child.kill('SIGKILL');
      await proxy.stop();
    }
  }, 60_000);
});

/** A TCP proxy to Postgres that `stop()` turns into a refused port (every connection cut, none accepted). */
async function startProxy(target: number): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = new Socket();
    sockets.add(inbound).add(outbound);
    outbound.connect(target, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let stopping: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
  };
}

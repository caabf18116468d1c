import { createServer, type Server } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { writerModes } from '../../src/writer/pulse-writer.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { closeServer, listen } from '../support/http.js';

/**
 * Stops a real Postgres (a private embedded server, whatever DATABASE_URL says)
 * while the app serves traffic, then starts it again.
 */
describe.each(writerModes)('Postgres stopped and restarted mid-traffic (writer %s)', (writerMode) => {
  let postgres: EmbeddedServer;
  let database: TestDatabase;
  let pulse: Pulse;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres();
    database = await createTestDatabase(postgres.url);
    pulse = createPulse({ connectionString: database.url, minBackoffMs: 50, maxBackoffMs: 500, maxWaitMs: 20, writerMode });
    await pulse.flush(); // the worker thread is up before the outage starts
    expect(pulse.writer?.mode).toBe(writerMode);
    await pulse.migrate();
    server = createServer(pulse.wrap((_req, res) => res.end('ok')));
    base = await listen(server);
  }, 180_000);

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
    await postgres.dispose();
  });

  it('keeps serving and loses no row once Postgres is back', async () => {
    const writeErrors: number[] = [];
    let recovered = 0;
    pulse.writer!.on('writeError', (info) => writeErrors.push(info.rows));
    pulse.writer!.on('recovered', () => recovered++);
    let sent = 0;
    let failed = 0;
    let phase = 'before';
    const phases: Record<string, number> = {};
    const traffic = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const batch = Array.from({ length: 10 }, async () => {
          const response = await fetch(`${base}/r/${phase}`);
          await response.text();
          if (response.status === 200) {
            sent++;
            phases[phase] = (phases[phase] ?? 0) + 1;
          } else failed++;
        });
        await Promise.all(batch);
      }
    };
    await traffic(500);
    phase = 'down';
    await postgres.stop();
    await traffic(1_500);
    phase = 'up';
    await postgres.start();
    await traffic(500);
    await pulse.flush();

    expect(failed).toBe(0);
    expect(phases.down).toBeGreaterThan(50);
    const rows = await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs`.execute(pulse.db);
    expect(Number(rows.rows[0]!.n)).toBe(sent);
    expect(writeErrors.length).toBeGreaterThan(0);
    expect(recovered).toBeGreaterThan(0);
    expect(pulse.stats.writer).toMatchObject({ written: sent, dropped: 0, rejected: 0 });
  });
});

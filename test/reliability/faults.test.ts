import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse, type PulseOptions } from '../../src/create-pulse.js';
import { writerModes } from '../../src/writer/pulse-writer.js';
import { createTestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { closeServer, hammer, listen } from '../support/http.js';
import { eventually } from '../support/fixtures.js';

/** How long Postgres stays down in the outage test; CI uses the full 10 s. */
const OUTAGE_MS = Number(process.env.PGPULSE_OUTAGE_MS ?? 10_000);
/** Target request rate during the outage test. */
const RATE_PER_S = Number(process.env.PGPULSE_OUTAGE_RATE ?? 1_000);

async function countRows(pulse: Pulse): Promise<number> {
  return Number((await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs`.execute(pulse.db)).rows[0]!.n);
}

/** Sends requests at `ratePerS` for `ms`; returns how many were answered 200 and how many failed. */
async function steadyTraffic(base: string, ratePerS: number, ms: number): Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((ratePerS * tickMs) / 1000));
  const inflight = new Set<Promise<void>>();
  const until = Date.now() + ms;
  let i = 0;
  while (Date.now() < until) {
    const tickStart = Date.now();
    for (let k = 0; k < perTick; k++) {
      const p = fetch(`${base}/orders/${i++}`)
        .then(async (r) => {
          await r.arrayBuffer();
          if (r.status === 200) ok++;
          else failed++;
        })
        .catch(() => {
          failed++;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    const wait = tickMs - (Date.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  return { ok, failed };
}

/** Every fault runs with the writer in its worker thread (the default) and on the app's event loop. */
describe.each(writerModes)('faults (writer %s)', (writerMode) => {
  let postgres: EmbeddedServer;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres();
  }, 180_000);
  afterAll(async () => {
    await postgres.dispose();
  });

  async function app(options: Omit<PulseOptions, 'connectionString'> = {}) {
    const database = await createTestDatabase(postgres.url);
    const pulse = createPulse({ connectionString: database.url, minBackoffMs: 50, maxBackoffMs: 1_000, writerMode, ...options });
    await pulse.migrate();
    await pulse.flush(); // the worker thread is up before a fault starts
    expect(pulse.writer?.mode).toBe(writerMode);
    const server = createServer(pulse.wrap((_req, res) => res.end('ok')));
    const base = await listen(server);
    return {
      pulse,
      base,
      database,
      async close() {
        await closeServer(server);
        await pulse.close();
        await database.drop();
      },
    };
  }

  it(`Postgres down ${OUTAGE_MS / 1000} s under ~${RATE_PER_S} req/s: app keeps serving, zero rows lost`, async () => {
    const { pulse, base, close } = await app();
    try {
      const before = await steadyTraffic(base, RATE_PER_S, 1_000);
      await postgres.stop();
      const during = await steadyTraffic(base, RATE_PER_S, OUTAGE_MS);
      await postgres.start();
      const after = await steadyTraffic(base, RATE_PER_S, 1_000);
      await pulse.flush();
      const served = before.ok + during.ok + after.ok;
      const figures = {
        served,
        failed: before.failed + during.failed + after.failed,
        duringOutage: during.ok,
        rows: await countRows(pulse),
        ...pulse.stats.writer,
      };
      console.log('[reliability] outage', JSON.stringify(figures));
      expect(figures.failed).toBe(0);
      // Traffic really flowed while Postgres was down (how much depends on the machine, so no rate is asserted).
      expect(during.ok).toBeGreaterThan(100);
      expect(figures.rows).toBe(served);
      expect(pulse.stats.writer).toMatchObject({ dropped: 0, rejected: 0, written: served });
    } finally {
      await postgres.start();
      await close();
    }
  }, 120_000);

  it('drops only beyond maxBufferedRows, and counts every drop', async () => {
    const { pulse, base, close } = await app({ maxBufferedRows: 300 });
    const dropEvents: number[] = [];
    pulse.writer!.on('drop', (info) => dropEvents.push(info.count));
    try {
      await postgres.stop();
      const statuses = await hammer(
        base,
        Array.from({ length: 1_000 }, (_, i) => `/x/${i}`),
        20,
      );
      await postgres.start();
      await pulse.flush();
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(await countRows(pulse)).toBe(300);
      expect(pulse.stats.writer?.dropped).toBe(700);
      expect(dropEvents.reduce((a, b) => a + b, 0)).toBe(700);
    } finally {
      await postgres.start();
      await close();
    }
  }, 60_000);

  it("survives pg_terminate_backend of the writer's connections under traffic", async () => {
    const { pulse, base, database, close } = await app({ maxWaitMs: 10 });
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    try {
      const traffic = steadyTraffic(base, 500, 3_000);
      for (let k = 0; k < 3; k++) {
        // Each termination comes after the writer committed again since the last one.
        const written = pulse.stats.writer?.written ?? 0;
        await eventually(() => (pulse.stats.writer?.written ?? 0) >= written + 20, 10_000, `rows committed before termination ${k + 1}`);
        await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'pgpulse'`, [database.name]);
      }
      const { ok, failed } = await traffic;
      await pulse.flush();
      expect(failed).toBe(0);
      expect(await countRows(pulse)).toBe(ok);
      expect(pulse.stats.writer).toMatchObject({ dropped: 0, written: ok });
    } finally {
      await admin.end();
      await close();
    }
  }, 60_000);

  it('SIGTERM to the app flushes the buffer before exit', async () => {
    const database = await createTestDatabase(postgres.url);
    const setup = createPulse({ connectionString: database.url });
    await setup.migrate();
    await setup.close();
    const script = fileURLToPath(new URL('./fixtures/sigterm-app.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, TEST_DATABASE_URL: database.url, TEST_WRITER_MODE: writerMode },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const port = /ready (\d+)/.exec(line.toString())?.[1];
      expect(port).toBeDefined();
      await hammer(
        `http://127.0.0.1:${port}`,
        Array.from({ length: 250 }, (_, i) => `/buffered/${i}`),
        10,
      );
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      expect(Number((await client.query('select count(*) as n from pgpulse.request_logs')).rows[0].n)).toBe(0);
      child.kill('SIGTERM');
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      expect(code === 0 || signal === 'SIGTERM').toBe(true);
      expect(Number((await client.query('select count(*) as n from pgpulse.request_logs')).rows[0].n)).toBe(250);
      await client.end();
    } finally {
      child.kill('SIGKILL');
      await database.drop();
    }
  }, 60_000);
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { hasCompiledWriterWorker, WorkerWriter } from '../../src/writer/worker-writer.js';
import { test, type MigratedDatabase } from '../support/migrated-database.js';
import { makeLog } from '../support/fixtures.js';

/** The writer in a worker_threads worker (the default with connectionString), run from the TypeScript source through tsx. */
describe('writer in a worker thread', () => {
  let database: MigratedDatabase;
  let db: Kysely<PulseDatabase>;

  test.beforeAll(({ database: migrated }) => {
    database = migrated;
    db = migrated.db;
  });
  beforeEach(async () => {
    await sql`truncate pgpulse.request_logs`.execute(db);
  });

  const count = async () => Number((await sql<{ n: string }>`select count(*) as n from pgpulse.request_logs`.execute(db)).rows[0]!.n);

  it('is the default with connectionString; the app’s own pool or db keeps it in-process', async () => {
    const appPool = new pg.Pool({ connectionString: database.url, max: 1 });
    const pulses: Pulse[] = [];
    try {
      const viaUrl = createPulse({ connectionString: database.url, writerMode: 'worker' });
      const inProcess = createPulse({ connectionString: database.url, writerMode: 'in-process' });
      const viaPool = createPulse({ pool: appPool });
      const viaDb = createPulse({ db });
      pulses.push(viaUrl, inProcess, viaPool, viaDb);
      expect(viaUrl.writer).toBeInstanceOf(WorkerWriter);
      expect([viaUrl, inProcess, viaPool, viaDb].map((p) => p.writer?.mode)).toEqual(['worker', 'in-process', 'in-process', 'in-process']);
      expect(() => createPulse({ pool: appPool, writerMode: 'worker' })).toThrow(/cannot be shared with a worker thread/);
      expect(() => createPulse({ connectionString: database.url, writerMode: 'thread' as never })).toThrow(/writerMode must be/);
      const withoutStore = createPulse({ connectionString: database.url, store: false });
      pulses.push(withoutStore);
      expect(withoutStore.writer).toBeUndefined();
      // Running from the TypeScript source the default is in-process (a worker would need tsx); the published dist/ defaults to the worker (below).
      const byDefault = createPulse({ connectionString: database.url });
      pulses.push(byDefault);
      expect(byDefault.writer?.mode).toBe(hasCompiledWriterWorker() ? 'worker' : 'in-process');
    } finally {
      for (const p of pulses) await p.close();
      await appPool.end();
    }
  });

  it('writes every row, relays flushed events and stats, and loses nothing at close()', async () => {
    const pulse = createPulse({ connectionString: database.url, maxRows: 250, maxWaitMs: 60_000, writerMode: 'worker' });
    const flushed: number[] = [];
    pulse.writer!.on('flushed', (info) => flushed.push(info.rows));
    try {
      const traced = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', attributes: { plan: 'pro', seats: 3, trial: true } };
      for (let i = 0; i < 1_000; i++) pulse.pubsub.publish(makeLog({ path: `/w/${i}`, ...(i === 7 ? traced : {}) }));
      await pulse.flush();
      expect(pulse.writer!.mode).toBe('worker');
      expect(await count()).toBe(1_000);
      // The columns cross the thread boundary (v8.serialize) like every other.
      expect(await db.selectFrom('pgpulse.request_logs').select(['trace_id', 'span_id', 'attributes']).where('path', '=', '/w/7').executeTakeFirst()).toEqual(
        traced,
      );
      expect(flushed.reduce((a, b) => a + b, 0)).toBe(1_000);
      expect(Math.max(...flushed)).toBeLessThanOrEqual(250);
      expect(pulse.stats.writer).toMatchObject({ written: 1_000, dropped: 0, pending: 0 });
      // Buffered for a minute (maxWaitMs): close() must still write them.
      for (let i = 0; i < 300; i++) pulse.pubsub.publish(makeLog({ path: `/late/${i}` }));
      await Promise.all([pulse.close(), pulse.close()]);
      expect(await count()).toBe(1_300);
      expect(pulse.stats.writer).toMatchObject({ written: 1_300, dropped: 0 });
    } finally {
      await pulse.close();
    }
  });

  it('relays rejected rows with the Postgres error, and drops after close', async () => {
    await sql`alter table pgpulse.request_logs add constraint no_poison check (path <> '/poison')`.execute(db);
    const pulse = createPulse({ connectionString: database.url, writerMode: 'worker' });
    try {
      const rejected: { path: string; message: string; code: unknown }[] = [];
      const drops: string[] = [];
      pulse.writer!.on('rejected', (info) =>
        rejected.push({ path: info.row.path, message: info.error.message, code: (info.error.cause as { code?: unknown }).code }),
      );
      pulse.writer!.on('drop', (info) => drops.push(info.reason));
      for (let i = 0; i < 50; i++) pulse.pubsub.publish(makeLog({ path: i === 17 ? '/poison' : `/ok/${i}` }));
      await pulse.flush();
      expect(pulse.writer!.mode).toBe('worker');
      await pulse.close();
      expect(await count()).toBe(49);
      expect(rejected).toEqual([{ path: '/poison', message: expect.stringMatching(/rejected a row.*no_poison/), code: '23514' }]);
      expect(pulse.stats.writer).toMatchObject({ rejected: 1, written: 49 });
      pulse.writer!.add(makeLog());
      expect(drops).toEqual(['closed']);
      expect(pulse.stats.writer?.dropped).toBe(1);
    } finally {
      await sql`alter table pgpulse.request_logs drop constraint no_poison`.execute(db);
    }
  });

  it('a worker that dies counts the rows it held as dropped and hands later rows to an in-process writer', async () => {
    const pulse = createPulse({ connectionString: database.url, maxWaitMs: 60_000, writerMode: 'worker' });
    const drops: { count: number; reason: string }[] = [];
    pulse.writer!.on('drop', (info) => drops.push(info));
    try {
      await pulse.flush(); // the worker is up
      expect(pulse.writer!.mode).toBe('worker');
      for (let i = 0; i < 20; i++) pulse.pubsub.publish(makeLog());
      await new Promise((resolve) => setImmediate(resolve));
      await (pulse.writer as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await new Promise((resolve) => setImmediate(resolve));
      expect(pulse.writer!.mode).toBe('in-process');
      for (let i = 0; i < 5; i++) pulse.pubsub.publish(makeLog({ path: '/after' }));
      await pulse.flush();
      expect(drops).toEqual([{ count: 20, reason: 'worker_failed' }]);
      expect(await count()).toBe(5);
      expect(pulse.stats.writer).toMatchObject({ dropped: 20, written: 5, pending: 0 });
    } finally {
      await pulse.close();
    }
  });

  const distEntry = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
  it.skipIf(!existsSync(distEntry))('from the built dist/ (npm run build), the worker is the default and writes every row', async () => {
    const script = `
      const { createPulse } = await import(${JSON.stringify(pathToFileURL(distEntry).href)});
      const pulse = createPulse({ connectionString: process.env.TEST_DATABASE_URL, nodeId: 'dist-node' });
      for (let i = 0; i < 100; i++) pulse.pubsub.broadcast({ request_id: 'd' + i, method: 'GET', path: '/dist', status_code: 200, duration_ms: 1, node_id: 'dist-node' });
      await pulse.close();
      console.log(JSON.stringify({ mode: pulse.writer.mode, ...pulse.stats.writer }));`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TEST_DATABASE_URL: database.url },
    });
    expect(JSON.parse(stdout), stderr).toMatchObject({ mode: 'worker', written: 100, dropped: 0 });
    expect(await count()).toBe(100);
  });
});

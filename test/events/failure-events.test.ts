import { createServer } from 'node:http';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { PulseEvents } from '../../src/events/pulse-events.js';
import { createListener } from '../../src/listen/index.js';
import { createMigratedTestDatabase, createTestDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';

interface LogLine {
  level: number;
  msg: string;
  event?: string;
  err?: { message: string; cause?: unknown };
  [key: string]: unknown;
}

/** A real pino logger writing JSON lines into an array. */
function memoryLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

const WARN = 40;
const ERROR = 50;
const INFO = 30;

/** Collects every event of one name a Pulse emits. */
function record<K extends keyof PulseEvents>(pulse: Pulse, name: K): PulseEvents[K][0][] {
  const seen: PulseEvents[K][0][] = [];
  pulse.on(name, ((info: PulseEvents[K][0]) => seen.push(info)) as never);
  return seen;
}

describe('every failure path emits its event (real Postgres)', () => {
  describe('on the shared test server', { tags: ['server'] }, () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createMigratedTestDatabase();
      await using pulse = createPulse({ connectionString: database.url, store: true });
      await pulse.migrate();
    });

    afterAll(async () => {
      await database.drop();
    });

    it('capture failure: captureError, logged at error, the request still served', async () => {
      const { logger, lines } = memoryLogger();
      await using pulse = createPulse({
        connectionString: database.url,
        logger,
        ignore: [
          (request) => {
            if (request.path === '/boom') throw new Error('ignore rule exploded');
            return false;
          },
        ],
      });
      const captureErrors = record(pulse, 'captureError');
      const server = createServer(pulse.wrap((_req, res) => res.end('ok')));
      const base = await listen(server);
      try {
        const response = await fetch(`${base}/boom`);
        expect(response.status).toBe(200);
        expect(await response.text()).toBe('ok');
      } finally {
        await closeServer(server);
      }
      expect(captureErrors).toHaveLength(1);
      expect(captureErrors[0]!.error.message).toMatch(/could not be recorded: ignore rule exploded/);
      expect((captureErrors[0]!.error.cause as Error).message).toBe('ignore rule exploded');
      expect(pulse.stats.captureFailures).toBe(1);
      const logged = lines.find((line) => line.event === 'captureError');
      expect(logged?.level).toBe(ERROR);
      expect(logged?.err?.message).toMatch(/ignore rule exploded/);
    });

    it('invalid row: rejected, logged at error; the rest of the batch is written', async () => {
      const { logger, lines } = memoryLogger();
      await using pulse = createPulse({ connectionString: database.url, logger, maxWaitMs: 5 });
      const rejected = record(pulse, 'rejected');
      const good = makeLog({ path: '/good' });
      // 40,000 does not fit the smallint status column: Postgres refuses the row (SQLSTATE 22003).
      const bad = makeLog({ path: '/bad', status_code: 40_000 });
      pulse.pubsub.publish(good);
      pulse.pubsub.publish(bad);
      await pulse.flush();
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.row.request_id).toBe(bad.request_id);
      expect((rejected[0]!.error.cause as { code?: string }).code).toBe('22003');
      expect(pulse.stats.writer).toMatchObject({ written: 1, rejected: 1 });
      expect(lines).toContainEqual(expect.objectContaining({ level: ERROR, event: 'rejected', requestId: bad.request_id }));
    });

    it('terminated backend: poolError for the pulse, disconnected/reconnected for a listener, each logged', async () => {
      const { logger, lines } = memoryLogger();
      await using pulse = createPulse({ connectionString: database.url, logger, maxWaitMs: 5 });
      const poolErrors = record(pulse, 'poolError');
      await pulse.health(); // leaves an idle connection in the pool
      await using listener = createListener({ connectionString: database.url, logger, minReconnectDelayMs: 10 });
      const disconnected: Error[] = [];
      listener.on('disconnected', ({ error }) => disconnected.push(error));
      await listener.start();

      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity
                           where datname = current_database() and (application_name = 'pgpulse' or application_name like 'pgpulse-listen%')`);
      } finally {
        await admin.end();
      }
      await eventually(() => poolErrors.length > 0 && listener.stats.reconnects > 0, 20_000, 'poolError and a listener reconnect');
      expect(poolErrors[0]!.error.message).toMatch(/^pgpulse pool: an idle connection failed: terminating connection/);
      expect(poolErrors[0]!.error.cause).toBeInstanceOf(Error);
      expect(pulse.stats.poolErrors).toBeGreaterThan(0);
      expect(disconnected.length).toBeGreaterThan(0);
      expect(lines).toContainEqual(expect.objectContaining({ level: WARN, event: 'poolError' }));
      expect(lines).toContainEqual(expect.objectContaining({ level: WARN, event: 'disconnected' }));
      expect(lines).toContainEqual(expect.objectContaining({ level: INFO, event: 'reconnected' }));
      // The pool reconnects by itself.
      expect((await pulse.health()).postgres.ok).toBe(true);
    });

    it('lock timeout: maintenanceError (cause SQLSTATE 55P03), logged at warn', async () => {
      const { logger, lines } = memoryLogger();
      await using pulse = createPulse({ connectionString: database.url, logger, maintenanceIntervalMs: 0 });
      const maintenanceErrors = record(pulse, 'maintenanceError');
      // Another session holds the partition maintenance lock; ensure_partition gives up after its 5 s lock_timeout.
      const holder = new pg.Client({ connectionString: database.url });
      await holder.connect();
      try {
        await holder.query('select pg_advisory_lock(7286112002)');
        await expect(pulse.maintain()).rejects.toThrow(/partition maintenance failed: .*lock/);
      } finally {
        await holder.end();
      }
      expect(maintenanceErrors).toHaveLength(1);
      const cause = maintenanceErrors[0]!.error.cause as { code?: string };
      expect(cause.code).toBe('55P03');
      expect(pulse.stats.maintenanceErrors).toBe(1);
      expect(lines).toContainEqual(expect.objectContaining({ level: WARN, event: 'maintenanceError' }));
    }, 30_000);

    it('a throwing event listener or logger never breaks pgpulse', async () => {
      const broken = {
        warn: () => {
          throw new Error('logger down');
        },
        error: () => {
          throw new Error('logger down');
        },
      };
      await using pulse = createPulse({ connectionString: database.url, logger: broken, maxWaitMs: 5 });
      pulse.on('rejected', () => {
        throw new Error('listener bug');
      });
      pulse.pubsub.publish(makeLog({ status_code: 40_000 }));
      pulse.pubsub.publish(makeLog());
      await pulse.flush();
      expect(pulse.stats.writer).toMatchObject({ written: 1, rejected: 1 });
    });
  });

  describe('stopped server (embedded Postgres)', () => {
    let postgres: EmbeddedServer;
    let database: TestDatabase;

    beforeAll(async () => {
      postgres = await startEmbeddedPostgres();
      database = await createTestDatabase(postgres.url);
    }, 180_000);

    afterAll(async () => {
      await postgres.dispose();
    });

    it('poolError, writeError, maintenanceError and listenerError while down; recovered and healthy once back', async () => {
      const { logger, lines } = memoryLogger();
      await using pulse = createPulse({ connectionString: database.url, logger, maxWaitMs: 5, minBackoffMs: 20, maxBackoffMs: 200, healthTimeoutMs: 1_000 });
      await pulse.migrate();
      const poolErrors = record(pulse, 'poolError');
      const writeErrors = record(pulse, 'writeError');
      const maintenanceErrors = record(pulse, 'maintenanceError');
      const recovered = record(pulse, 'recovered');
      await using listener = createListener({ connectionString: database.url, logger, minReconnectDelayMs: 20, maxReconnectDelayMs: 200 });
      const listenerErrors: string[] = [];
      listener.on('listenerError', ({ phase }) => listenerErrors.push(phase));
      await listener.start();
      expect((await pulse.health()).ok).toBe(true);

      await postgres.stop();
      await eventually(() => poolErrors.length > 0, 10_000, 'poolError');
      pulse.pubsub.publish(makeLog({ path: '/while-down' }));
      await eventually(() => writeErrors.length > 0 && listenerErrors.includes('connect'), 20_000, 'writeError and listenerError');
      await expect(pulse.maintain()).rejects.toThrow(/partition maintenance failed/);
      expect(maintenanceErrors).toHaveLength(1);
      const down = await pulse.health();
      expect(down.ok).toBe(false);
      expect(down.postgres).toMatchObject({ ok: false, latencyMs: null });
      expect(down.postgres.error).toBeTruthy();
      expect(down.writer).toMatchObject({ pendingRows: 1 });
      expect(writeErrors[0]!.error.cause).toBeInstanceOf(Error);

      await postgres.start();
      await pulse.flush();
      expect(recovered.length).toBeGreaterThan(0);
      await eventually(() => listener.stats.reconnects > 0, 20_000, 'listener reconnect');
      const up = await pulse.health();
      expect(up).toMatchObject({ ok: true, postgres: { ok: true }, writer: { ok: true, pendingRows: 0 } });
      expect(up.writer!.lastWriteAt).toBeInstanceOf(Date);

      for (const event of ['poolError', 'writeError', 'maintenanceError', 'listenerError', 'disconnected']) {
        expect(lines, event).toContainEqual(expect.objectContaining({ level: WARN, event }));
      }
      expect(lines).toContainEqual(expect.objectContaining({ level: INFO, event: 'recovered' }));
      // pino serialises the error with its cause.
      const writeError = lines.find((l) => l.event === 'writeError')!;
      expect(writeError.err!.message).toMatch(/insert of 1 rows failed/);
    }, 120_000);
  });
});

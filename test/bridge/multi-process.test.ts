import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_MESSAGE_VERSION } from '../../src/bridge/message.js';
import { createPulse } from '../../src/create-pulse.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../support/embedded-postgres.js';
import { eventually } from '../support/fixtures.js';
import { spawnTail, type TailProcess } from './fixtures/spawn-tail.js';

const writerScript = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));

interface WriterProcess {
  child: ChildProcess;
  ready: Promise<void>;
  stats: Promise<{ sent: number; written: number; dropped: number; rejected: number }>;
}

function spawnWriter(url: string, nodeId: string, env: Record<string, string> = {}): WriterProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript], {
    env: { ...process.env, TEST_DATABASE_URL: url, NODE_ID: nodeId, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let onReady!: () => void;
  let onStats!: (stats: WriterProcess['stats'] extends Promise<infer T> ? T : never) => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const stats = new Promise<Awaited<WriterProcess['stats']>>((resolve) => (onStats = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') onReady();
    if (line.startsWith('stats ')) onStats(JSON.parse(line.slice(6)));
  });
  return { child, ready, stats };
}

/**
 * Acceptance test of the bridge, on both listener transports: three writer
 * processes and one `pgpulse tail` process on one database, under steady
 * traffic, while the tail's LISTEN backend (or walsender) is terminated twice
 * and garbage is notified on the channel. The tail must print exactly the
 * committed rows. With the `wal` transport the writers do not NOTIFY at all:
 * the WAL carries the rows (on an embedded Postgres with wal_level=logical).
 */
describe.each(['notify', 'wal'] as const)('bridge across processes (%s transport)', (transport) => {
  let database: TestDatabase;
  let sql: pg.Pool;
  let tail: TailProcess;
  let writers: WriterProcess[] = [];
  let postgres: EmbeddedServer | undefined;

  beforeAll(async () => {
    if (transport === 'wal') postgres = await startEmbeddedPostgres({ postgresFlags: ['-c', 'wal_level=logical'] });
    database = await createTestDatabase(postgres?.url);
    const pulse = createPulse({ connectionString: database.url });
    await pulse.migrate();
    await pulse.close();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
  });

  afterAll(async () => {
    for (const child of [tail?.child, ...writers.map((w) => w.child)]) if (child && child.exitCode === null) child.kill('SIGKILL');
    await sql?.end();
    await database?.drop();
    await postgres?.dispose();
  }, 60_000);

  /** Waits until the tail has printed `count` more rows than now (traffic keeps flowing meanwhile). */
  const rowsFlow = async (count: number, what: string) => {
    const seen = tail.rows.length;
    await eventually(() => tail.rows.length >= seen + count, 20_000, what);
  };

  const terminateListener = async () => {
    const result = await sql.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgpulse-listen' and datname = current_database()`,
    );
    expect(result.rowCount).toBe(1);
  };

  it('delivers exactly the committed rows, through two terminated backends and garbage payloads', async () => {
    tail = spawnTail(['--database-url', database.url, '--transport', transport]);
    await tail.listening;
    const notify = transport === 'notify' ? '1' : '0';
    writers = ['node-1', 'node-2', 'node-3'].map((id, i) => spawnWriter(database.url, id, { RATE: '300', BIG_EVERY: i === 0 ? '97' : '0', NOTIFY: notify }));
    await Promise.all(writers.map((w) => w.ready));
    await rowsFlow(200, 'rows from the writers reaching the tail');

    for (let round = 1; round <= 2; round++) {
      await terminateListener();
      await eventually(() => tail.stderr.filter((l) => l.includes('reconnected after')).length === round, 15_000, `reconnect ${round}`);
      await rowsFlow(100, `rows reaching the tail after reconnect ${round}`);
    }
    // Not pgpulse messages of any version (a message of another version is counted apart, not as malformed).
    const garbage = ['garbage', '{"v":"x"}', `{"v":${BRIDGE_MESSAGE_VERSION},"o":"x","b":"y","n":1,"tx":"zz","ids":[]}`];
    for (const payload of garbage) {
      await promisify(execFile)('psql', [database.url, '-c', `notify pgpulse_requests, '${payload}'`]);
    }
    // Notifications arrive in commit order: rows committed after the garbage show it was read.
    await rowsFlow(300, 'rows reaching the tail after the garbage');

    for (const w of writers) w.child.kill('SIGTERM');
    const stats = await Promise.all(writers.map((w) => w.stats));
    const written = stats.reduce((sum, s) => sum + s.written, 0);
    const stored = (await sql.query<{ id: string }>('select id from pgpulse.request_logs order by id')).rows.map((r) => Number(r.id));
    expect(stored.length).toBe(written);
    expect(stats.every((s) => s.dropped === 0 && s.rejected === 0 && s.written === s.sent)).toBe(true);

    await eventually(() => tail.rows.length >= stored.length, 20_000, `tail printing all ${stored.length} rows`);
    // Stop the tail and read its output to the end: a late duplicate would be in it.
    tail.child.kill('SIGTERM');
    expect(await tail.exited).toBe(0);
    await tail.outputEnded;
    const printed = tail.rows.map((r) => r.row.id as number).sort((a, b) => a - b);
    expect(printed.length).toBe(new Set(printed).size);
    expect(printed).toEqual(stored);
    expect(tail.junk).toEqual([]);

    const rows = tail.rows.map((r) => r.row);
    expect(new Set(rows.map((r) => r.node_id))).toEqual(new Set(['node-1', 'node-2', 'node-3']));
    const big = rows.filter((r) => (r.user_agent as string).length === 20_000);
    expect(big.length).toBeGreaterThan(0);

    const latencies = tail.rows.map((r) => r.receivedAt - Date.parse(r.row.inserted_at as string)).sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
    console.log(
      `[bridge ${transport}] ${stored.length} rows from 3 writers (${big.length} with 20 KB user agents), 2 terminated LISTEN backends; ` +
        `broadcast→tail latency p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${pct(1)} ms (includes the outages)`,
    );

    const summary = tail.stderr.find((l) => l.includes('stopped;'))!;
    console.log(`[bridge ${transport}] ${summary}`);
    // The wal transport does not LISTEN: garbage on the channel never reaches it.
    const malformed = transport === 'notify' ? garbage.length : 0;
    expect(summary).toMatch(new RegExp(`delivered=${stored.length} malformed=${malformed} `));
    expect(summary).toMatch(/reconnects=2 /);
    expect(summary).toMatch(/missing=0 /);
  }, 120_000);
});

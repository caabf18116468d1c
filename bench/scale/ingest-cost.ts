/**
 * Ingest cost of rollups: the batched writer with `rollups: true` vs `false`,
 * alternating rounds in one run (ABBA order, fresh tables and a checkpoint
 * before each round) so background load hits both alike. Rows are
 * pre-built RequestLogs spread over one minute, like live traffic (every
 * batch upserts the same minute and hour rollup rows: the worst case for row
 * locks between the writer's concurrent batches). `--writers N` runs N
 * writers at once (as N app nodes would), each getting every Nth row.
 *
 *   npm run bench:scale:ingest -- [--rows 200000] [--rounds 6] [--in-flight 2] [--writers 1] [--database-url URL]
 *
 * Prints a Markdown table (rows/s per round, medians, CPU per row of Node and
 * of the writer's Postgres backends) to stdout.
 */
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrate } from '../../dist/migrate.js';
import type { RequestLog } from '../../dist/request-log.js';
import { maintainPartitions } from '../../dist/scale/maintain-partitions.js';
import { Writer } from '../../dist/writer/writer.js';
import { backendCpuMs } from '../lib/backend-cpu.js';
import { createBenchDatabase, serverVersion } from '../lib/bench-database.js';
import { fmt } from '../lib/percentiles.js';
import { syntheticLog } from '../lib/synthetic-log.js';

const { values } = parseArgs({
  options: { rows: { type: 'string' }, rounds: { type: 'string' }, 'in-flight': { type: 'string' }, writers: { type: 'string' }, quick: { type: 'boolean' }, 'database-url': { type: 'string' } },
});
const quick = values.quick ?? false;
const rows = Number(values.rows ?? (quick ? 20_000 : 200_000));
const rounds = Number(values.rounds ?? (quick ? 2 : 6));
const inFlight = Number(values['in-flight'] ?? 2);
const writers = Number(values.writers ?? 1);
const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = (line: string) => console.error(`[bench:scale:ingest] ${line}`);
type Mode = 'off' | 'on';

interface RoundResult {
  rowsPerSecond: number;
  /** CPU per row of this process (buffering, rollup aggregation, serialising), µs. */
  nodeUs: number;
  /** CPU per row of the writer's Postgres backends, µs (NaN when Postgres is not local). */
  postgresUs: number;
  /** Share of samples (every 10 ms) in which some writer backend waited for a lock. */
  lockWaitShare: number;
}

/** Samples, until stopped, whether any backend of the database waits for a heavyweight lock (e.g. a rollup row). */
function sampleLockWaits(url: string): { stop(): Promise<number> } {
  let samples = 0;
  let waiting = 0;
  let running = true;
  const client = new pg.Client({ connectionString: url });
  const done = (async () => {
    await client.connect();
    while (running) {
      const result = await client.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
      );
      samples++;
      if (result.rows[0]!.n > 0) waiting++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await done;
      return samples ? waiting / samples : 0;
    },
  };
}

/** Writes `logs` through a fresh Writer; throughput and CPU per row. */
async function round(db: Kysely<any>, url: string, logs: readonly RequestLog[], mode: Mode): Promise<RoundResult> {
  await sql`truncate pgpulse.request_logs, pgpulse.rollups, pgpulse.visitor_sketches`.execute(db);
  await sql`checkpoint`.execute(db);
  const all = Array.from({ length: writers }, (_, w) => new Writer(db, { nodeId: `bench-${w}`, rollups: mode === 'on', maxWritesInFlight: inFlight, maxBufferedRows: logs.length + 1 }));
  const postgresBefore = await backendCpuMs(url);
  const locks = sampleLockWaits(url);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < logs.length; i++) {
    all[i % writers]!.add(logs[i]!);
    // Let writes start while rows keep arriving, as in an app.
    if (i % 10_000 === 9_999) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(all.map((writer) => writer.flush()));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const lockWaitShare = await locks.stop();
  const postgresMs = (await backendCpuMs(url)) - postgresBefore;
  await Promise.all(all.map((writer) => writer.close()));
  const written = all.reduce((sum, writer) => sum + writer.stats.written, 0);
  if (written !== logs.length) throw new Error(`bench: wrote ${written} of ${logs.length} rows (rollups ${mode})`);
  return { rowsPerSecond: logs.length / seconds, nodeUs: (cpu.user + cpu.system) / logs.length, postgresUs: (postgresMs * 1000) / logs.length, lockWaitShare };
}

const median = (samples: readonly number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const database = await createBenchDatabase(serverUrl);
const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: writers * inFlight + 1 }) }) });
const lines: string[] = [];
try {
  await migrate(db);
  await maintainPartitions(db);
  const start = Date.now();
  const logs = Array.from({ length: rows }, (_, i) => syntheticLog(i, 'bench', new Date(start + (i * 60_000) / rows)));
  const results: Record<Mode, RoundResult[]> = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Mode[] = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) {
      const result = await round(db, database.url, logs, mode);
      results[mode].push(result);
      log(`round ${r + 1}/${rounds}, rollups ${mode}: ${fmt(result.rowsPerSecond)} rows/s, CPU/row ${fmt(result.nodeUs, 1)} µs Node + ${fmt(result.postgresUs, 1)} µs Postgres, lock waits in ${fmt(result.lockWaitShare * 100)}% of samples`);
    }
  }
  const rate = (mode: Mode) => median(results[mode].map((r) => r.rowsPerSecond));
  const nodeUs = (mode: Mode) => median(results[mode].map((r) => r.nodeUs));
  const postgresUs = (mode: Mode) => median(results[mode].map((r) => r.postgresUs));
  const lockWaits = (mode: Mode) => median(results[mode].map((r) => r.lockWaitShare));
  const off = rate('off');
  const on = rate('on');
  lines.push(
    `Writer ingest, rollups off vs on (${fmt(rows)} rows per round, batches of 2,000, ${writers} writer(s) with ${inFlight} in flight each, ${rounds} alternating rounds, Postgres ${await serverVersion(database.url)}):`,
    '',
    '| rollups | rows/s per round | median rows/s | Node CPU µs/row | Postgres CPU µs/row | lock waits (share of 10 ms samples) |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...(['off', 'on'] as const).map(
      (mode) =>
        `| ${mode} | ${results[mode].map((r) => fmt(r.rowsPerSecond)).join(', ')} | ${fmt(rate(mode))} | ${fmt(nodeUs(mode), 1)} | ${fmt(postgresUs(mode), 1)} | ${fmt(lockWaits(mode) * 100)}% |`,
    ),
    '',
    `Rollups cost ${fmt((1 - on / off) * 100, 1)}% of ingest throughput (median vs median), ` +
      `${fmt(nodeUs('on') - nodeUs('off'), 1)} µs Node + ${fmt(postgresUs('on') - postgresUs('off'), 1)} µs Postgres CPU per row (medians; CPU does not depend on other load).`,
  );
} finally {
  await db.destroy();
  await database.drop();
}
console.log(lines.join('\n'));

/**
 * Ingest cost of rollups and of several nodes writing at once: the batched
 * writer with `rollups: false` vs `true`, with 1, 4 and 8 writers (as that
 * many app nodes would run), next to COPY FROM STDIN of the same rows in the
 * same run (the practical ceiling for Postgres CPU per row). Rounds alternate
 * (ABBA order, fresh tables and a checkpoint before each round) so background
 * load hits every variant alike. Rows are pre-built RequestLogs spread over one
 * minute, like live traffic: every batch upserts the same minute and hour
 * rollup rows, the worst case for row locks between writers. Each writer gets
 * every Nth row.
 *
 *   npm run bench:scale:ingest -- [--writers 1,4,8] [--rows 200000] [--rounds 4] [--in-flight 2] [--quick] [--database-url URL]
 *
 * Prints Markdown tables (rows/s, CPU per row of Node and of the Postgres
 * backends, share of samples in which a backend waited for a lock, and the
 * issue-12 targets met or missed) and, unless --quick, writes them into
 * BENCHMARKS.md between the ingest:start/ingest:end markers.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { migrate } from '../../dist/index.js';
import type { RequestLog } from '../../dist/schema/request-log.js';
import { maintainPartitions } from '../../dist/store/maintain-partitions.js';
import { Writer } from '../../dist/writer/writer.js';
import { backendCpuMs } from '../lib/backend-cpu.js';
import { createBenchDatabase, serverVersion } from '../lib/bench-database.js';
import { fmt } from '../lib/percentiles.js';
import { syntheticLog } from '../lib/synthetic-log.js';
import type { PulseDatabase } from '../../src/schema/database.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    rounds: { type: 'string' },
    'in-flight': { type: 'string' },
    writers: { type: 'string' },
    quick: { type: 'boolean' },
    'database-url': { type: 'string' },
  },
});
const quick = values.quick ?? false;
const rows = Number(values.rows ?? (quick ? 20_000 : 200_000));
const rounds = Number(values.rounds ?? (quick ? 1 : 4));
const inFlight = Number(values['in-flight'] ?? 2);
const writerCounts = (values.writers ?? '1,4,8').split(',').map((w) => Number(w.trim()));
if (writerCounts.some((w) => !Number.isInteger(w) || w < 1))
  throw new Error(`bench: --writers takes a list of positive integers such as 1,4,8, got ${values.writers}`);
const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = (line: string) => console.error(`[bench:scale:ingest] ${line}`);
const cores = availableParallelism();
type Mode = 'off' | 'on';

interface RoundResult {
  rowsPerSecond: number;
  /** CPU per row of this process (buffering, rollup aggregation, serialising), µs. */
  nodeUs: number;
  /** CPU per row of the database's Postgres backends, µs (NaN when Postgres is not local). */
  postgresUs: number;
  /** Share of samples (every 10 ms) in which some backend of the database waited for a heavyweight lock. */
  lockWaitShare: number;
  /** Lock waits by wait_event (e.g. `transactionid`/`tuple` = rows, `extend` = relation extension), share of samples. */
  lockEvents: Record<string, number>;
}

/** Samples, until stopped, whether any backend of the database waits for a heavyweight lock, and on what. */
function sampleLockWaits(url: string): { stop(): Promise<{ share: number; events: Record<string, number> }> } {
  let samples = 0;
  let waiting = 0;
  const events: Record<string, number> = {};
  let running = true;
  const client = new pg.Client({ connectionString: url });
  const done = (async () => {
    await client.connect();
    while (running) {
      const result = await client.query<{ event: string }>(
        "select distinct wait_event as event from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
      );
      samples++;
      if (result.rows.length > 0) waiting++;
      for (const { event } of result.rows) events[event] = (events[event] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { share: samples ? waiting / samples : 0, events: Object.fromEntries(Object.entries(events).map(([e, n]) => [e, n / samples])) };
    },
  };
}

async function freshTables(db: Kysely<PulseDatabase>): Promise<void> {
  await sql`truncate pgpulse.request_logs, pgpulse.rollups, pgpulse.visitor_sketches`.execute(db);
  await sql`checkpoint`.execute(db);
}

/** Writes `logs` through `writers` fresh Writers at once; throughput and CPU per row. */
async function writerRound(db: Kysely<PulseDatabase>, url: string, logs: readonly RequestLog[], writers: number, mode: Mode): Promise<RoundResult> {
  await freshTables(db);
  const all = Array.from(
    { length: writers },
    // copyPool: as createPulse sets it up (batches go in with COPY).
    (_, w) => new Writer(db, { nodeId: `bench-${w}`, copyPool: pool, rollups: mode === 'on', maxWritesInFlight: inFlight, maxBufferedRows: logs.length + 1 }),
  );
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
  const waits = await locks.stop();
  const postgresMs = (await backendCpuMs(url)) - postgresBefore;
  await Promise.all(all.map((writer) => writer.close()));
  const written = all.reduce((sum, writer) => sum + writer.stats.written, 0);
  if (written !== logs.length) throw new Error(`bench: wrote ${written} of ${logs.length} rows (rollups ${mode}, ${writers} writers)`);
  return {
    rowsPerSecond: logs.length / seconds,
    nodeUs: (cpu.user + cpu.system) / logs.length,
    postgresUs: (postgresMs * 1000) / logs.length,
    lockWaitShare: waits.share,
    lockEvents: waits.events,
  };
}

const COLUMNS = [
  'request_id',
  'method',
  'path',
  'route',
  'status_code',
  'duration_ms',
  'response_bytes',
  'user_agent',
  'referer',
  'device_type',
  'visitor_id',
  'session_id',
  'node_id',
  'ip',
  'inserted_at',
] as const;

const copyField = (v: unknown): string => {
  if (v === null || v === undefined) return '\\N';
  if (v instanceof Date) return v.toISOString();
  return (typeof v === 'string' ? v : JSON.stringify(v)).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
};

/** COPY FROM STDIN of the same rows on one connection (text prepared beforehand): Postgres' own cost per row. */
async function copyRound(db: Kysely<PulseDatabase>, url: string, chunks: readonly string[], count: number): Promise<RoundResult> {
  await freshTables(db);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const postgresBefore = await backendCpuMs(url);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await pipeline(Readable.from(chunks), client.query(copyFrom(`copy pgpulse.request_logs (${COLUMNS.join(', ')}) from stdin`)));
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const postgresMs = (await backendCpuMs(url)) - postgresBefore;
    return {
      rowsPerSecond: count / seconds,
      nodeUs: (cpu.user + cpu.system) / count,
      postgresUs: (postgresMs * 1000) / count,
      lockWaitShare: 0,
      lockEvents: {},
    };
  } finally {
    await client.end();
  }
}

const median = (samples: readonly number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const database = await createBenchDatabase(serverUrl);
const pool = new pg.Pool({ connectionString: database.url, max: Math.max(...writerCounts) * inFlight + 1 });
const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool }) });
const lines: string[] = [];
try {
  await migrate(db);
  await maintainPartitions(db);
  const start = Date.now();
  const logs = Array.from({ length: rows }, (_, i) => syntheticLog(i, 'bench', new Date(start + (i * 60_000) / rows)));
  const chunks: string[] = [];
  for (let i = 0; i < logs.length; i += 1_000) {
    chunks.push(
      logs
        .slice(i, i + 1_000)
        .map((row) => `${COLUMNS.map((c) => copyField(row[c])).join('\t')}\n`)
        .join(''),
    );
  }
  const key = (writers: number, mode: Mode) => `${writers}:${mode}`;
  const results = new Map<string, RoundResult[]>();
  const copies: RoundResult[] = [];
  for (let r = 0; r < rounds; r++) {
    const copy = await copyRound(db, database.url, chunks, rows);
    copies.push(copy);
    log(`round ${r + 1}/${rounds}, COPY: ${fmt(copy.rowsPerSecond)} rows/s, Postgres CPU/row ${fmt(copy.postgresUs, 1)} µs`);
    for (const writers of writerCounts) {
      const order: Mode[] = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const mode of order) {
        const result = await writerRound(db, database.url, logs, writers, mode);
        results.set(key(writers, mode), [...(results.get(key(writers, mode)) ?? []), result]);
        log(
          `round ${r + 1}/${rounds}, ${writers} writer(s), rollups ${mode}: ${fmt(result.rowsPerSecond)} rows/s, ` +
            `CPU/row ${fmt(result.nodeUs, 1)} µs Node + ${fmt(result.postgresUs, 1)} µs Postgres, lock waits in ${fmt(result.lockWaitShare * 100)}% of samples`,
        );
      }
    }
  }
  const of = (writers: number, mode: Mode) => results.get(key(writers, mode))!;
  const med = (list: readonly RoundResult[], pick: (r: RoundResult) => number) => median(list.map(pick));
  const events = (list: readonly RoundResult[]) => {
    const names = [...new Set(list.flatMap((r) => Object.keys(r.lockEvents)))];
    const shares = names.map((name) => [name, med(list, (r) => r.lockEvents[name] ?? 0)] as const).filter(([, share]) => share >= 0.005);
    return shares.length
      ? ` (${shares
          .sort((a, b) => b[1] - a[1])
          .map(([name, share]) => `${name} ${fmt(share * 100)}%`)
          .join(', ')})`
      : '';
  };
  const copyUs = med(copies, (r) => r.postgresUs);
  const copyRate = med(copies, (r) => r.rowsPerSecond);
  lines.push(
    `${quick ? '**QUICK MODE (tiny sizes, numbers meaningless)** ' : ''}Writer ingest with 1 to ${Math.max(...writerCounts)} writers at once (each as its own app node, ` +
      `${inFlight} writes in flight each), rollups off vs on, and COPY FROM STDIN of the same rows on one connection: ${fmt(rows)} rows per round ` +
      `spread over one minute, batches of 2,000, ${rounds} alternating round(s), ${cores} CPU cores, Postgres ${await serverVersion(database.url)}.`,
    '',
    '| writers | rollups | rows/s per round | median rows/s | Node CPU µs/row | Postgres CPU µs/row | Postgres CPU vs COPY | CPU busy (of all cores) | lock waits (share of 10 ms samples) |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
    `| COPY | – | ${copies.map((r) => fmt(r.rowsPerSecond)).join(', ')} | ${fmt(copyRate)} | – | ${fmt(copyUs, 1)} | 1.00× | – | – |`,
  );
  for (const writers of writerCounts) {
    for (const mode of ['off', 'on'] as const) {
      const list = of(writers, mode);
      const rate = med(list, (r) => r.rowsPerSecond);
      const busy = med(list, (r) => ((r.nodeUs + r.postgresUs) * r.rowsPerSecond) / 1e6 / cores);
      lines.push(
        `| ${writers} | ${mode} | ${list.map((r) => fmt(r.rowsPerSecond)).join(', ')} | ${fmt(rate)} | ${fmt(
          med(list, (r) => r.nodeUs),
          1,
        )} | ` +
          `${fmt(
            med(list, (r) => r.postgresUs),
            1,
          )} | ${fmt(med(list, (r) => r.postgresUs) / copyUs, 2)}× | ${fmt(busy * 100)}% | ${fmt(med(list, (r) => r.lockWaitShare) * 100)}%${events(list)} |`,
      );
    }
  }
  // Targets of issue 12 (parts 2 and 3), judged on rollups on.
  const most = Math.max(...writerCounts);
  const onRates = writerCounts.map((w) => med(of(w, 'on'), (r) => r.rowsPerSecond));
  const onBusy = writerCounts.map((w) => med(of(w, 'on'), (r) => ((r.nodeUs + r.postgresUs) * r.rowsPerSecond) / 1e6 / cores));
  // Grows with writers until the CPU is saturated: each step at least 95% of the one before, or the one before had the CPU ≥ 90% busy.
  const grows = onRates.every((rate, i) => i === 0 || rate >= onRates[i - 1]! * 0.95 || onBusy[i - 1]! >= 0.9);
  const lockShare = med(of(most, 'on'), (r) => r.lockWaitShare);
  // Waits on rows (the hot rollup rows before sharding): `transactionid` and `tuple` lock waits.
  const rowLockShare = med(of(most, 'on'), (r) => Math.max(r.lockEvents.transactionid ?? 0, r.lockEvents.tuple ?? 0));
  const ratio = med(of(writerCounts[0]!, 'on'), (r) => r.postgresUs) / copyUs;
  const best = Math.max(...onRates);
  const verdict = (ok: boolean) => (quick ? 'n/a (quick)' : ok ? 'met' : '**missed**');
  lines.push(
    '',
    '| target (rollups on) | measured | verdict |',
    '| --- | --- | --- |',
    `| lock-wait share < 10% with ${most} writers | ${fmt(lockShare * 100, 1)}%${events(of(most, 'on'))} | ${verdict(lockShare < 0.1)} |`,
    `| of which waits on rows (transactionid/tuple: hot rollup rows) < 10% with ${most} writers | ${fmt(rowLockShare * 100, 1)}% | ${verdict(rowLockShare < 0.1)} |`,
    `| rows/s grows with writers until the CPU is saturated | ${writerCounts.map((w, i) => `${w}: ${fmt(onRates[i]!)} (CPU ${fmt(onBusy[i]! * 100)}%)`).join(' → ')} | ${verdict(grows)} |`,
    `| Postgres CPU per row ≤ 1.5× COPY's (${writerCounts[0]} writer) | ${fmt(ratio, 2)}× (${fmt(
      med(of(writerCounts[0]!, 'on'), (r) => r.postgresUs),
      1,
    )} vs ${fmt(copyUs, 1)} µs) | ${verdict(ratio <= 1.5)} |`,
    `| writer ingest ≥ 100,000 rows/s | ${fmt(best)} rows/s (best writer count; COPY ${fmt(copyRate)}) | ${verdict(best >= 100_000)} |`,
  );
} finally {
  await db.destroy();
  await database.drop();
}
console.log(lines.join('\n'));
if (!quick) {
  const file = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
  let text = await readFile(file, 'utf8');
  if (!text.includes('<!-- ingest:start -->')) {
    text += '\n## Ingest with many nodes (`npm run bench:scale:ingest`)\n\n<!-- ingest:start -->\n<!-- ingest:end -->\n';
  }
  const begin = text.indexOf('<!-- ingest:start -->');
  const end = text.indexOf('<!-- ingest:end -->');
  const when = `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`;
  await writeFile(file, `${text.slice(0, begin)}<!-- ingest:start -->\n${when}\n\n${lines.join('\n')}\n${text.slice(end)}`);
  log('wrote BENCHMARKS.md');
}

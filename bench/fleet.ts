/**
 * The NOTIFY ceiling and the WAL transport (issue 17, parts 1 and 4).
 *
 * N writers (each a pgpulse Writer as one app node would run it, with its own
 * 2-connection pool, rollups on, COPY batches) write small batches in a closed
 * loop against an embedded Postgres with `wal_level=logical` and `fsync=on`
 * (synchronous_commit on: every commit waits for its WAL flush), in three
 * modes: no bridge; the NOTIFY bridge (`notify: true`, one listener
 * LISTENing); the WAL transport (`notify: false`, one `transport: 'wal'`
 * listener). All N writers live in this one process as N pooled connections
 * (a 2-core machine cannot run 64 Node processes); the listener runs in a
 * child process. Reported per mode and N: commits/s, rows/s, batch latency
 * p50/p99, what the writers' backends waited on (pg_stat_activity sampled
 * every 10 ms; `Lock:object` is the cluster-wide NOTIFY commit lock, an
 * AccessExclusive lock on object 0 of pg_database, cross-checked in pg_locks),
 * and the walsender's CPU. Then delivery latency p50/p99 of both transports at
 * paced 1k and 10k rows/s, and `pg_test_fsync`'s fdatasync figure.
 *
 *   npm run bench:fleet -- [--writers 1,4,16,64] [--seconds 8] [--batch 10] [--quick]
 *
 * Unless --quick, writes its tables into BENCHMARKS.md between the
 * fleet:start/fleet:end markers. The full run takes about 4 minutes.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrate } from '../dist/index.js';
import { startEmbeddedPostgres } from '../dist/demo/embedded-postgres.js';
import { maintainPartitions } from '../dist/store/maintain-partitions.js';
import { Writer } from '../dist/writer/writer.js';
import { fmt, percentile } from './lib/percentiles.js';
import { syntheticLog } from './lib/synthetic-log.js';
import type { PulseDatabase } from '../src/schema/database.js';

const { values } = parseArgs({
  options: {
    writers: { type: 'string' },
    seconds: { type: 'string' },
    batch: { type: 'string' },
    rates: { type: 'string' },
    quick: { type: 'boolean' },
    'skip-fsync-test': { type: 'boolean' },
  },
});
const quick = values.quick ?? false;
const writerCounts = (values.writers ?? (quick ? '1,4' : '1,4,16,64')).split(',').map((w) => Number(w.trim()));
if (writerCounts.some((w) => !Number.isInteger(w) || w < 1 || w > 90))
  throw new Error(`bench: --writers takes integers 1-90 such as 1,4,16,64, got ${values.writers}`);
const seconds = Number(values.seconds ?? (quick ? 1 : 8));
const batchRows = Number(values.batch ?? 10);
const rates = (values.rates ?? (quick ? '1000' : '1000,10000')).split(',').map((r) => Number(r.trim()));
const log = (line: string) => console.error(`[bench:fleet] ${line}`);
const cores = availableParallelism();
const WRITER_APP = 'pgpulse-fleet-writer';
const LOCAL_TICKS_PER_SECOND = 100;

type Mode = 'none' | 'notify' | 'wal';
const MODE_LABEL: Record<Mode, string> = { none: 'no bridge', notify: 'NOTIFY bridge', wal: 'WAL transport' };

/** CPU ms of a local process from /proc (utime + stime); NaN when unreadable. */
function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / LOCAL_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The listener child process (see fleet/listener-child.ts). */
interface ListenerChild {
  /** Clears the samples; only rows of `nodeId` count from now on. */
  reset(nodeId: string): Promise<void>;
  report(): Promise<{ count: number; unique: number; p50: number; p99: number }>;
  stop(): Promise<void>;
}

async function startListener(url: string, transport: 'notify' | 'wal'): Promise<ListenerChild> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fleet/listener-child.ts', import.meta.url)), url, transport],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2_000)));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const onExit = () => reject(new Error(`bench: the ${transport} listener exited: ${stderr.trim()}`));
      child.once('exit', onExit);
      waiting.push((line) => {
        child.off('exit', onExit);
        resolve(line);
      });
    });
  const ready = await next();
  if (ready !== 'ready') throw new Error(`bench: the ${transport} listener said ${ready}`);
  return {
    async report() {
      const answer = next();
      child.stdin.write('report\n');
      return JSON.parse((await answer).slice('report '.length)) as { count: number; unique: number; p50: number; p99: number };
    },
    async reset(nodeId) {
      const answer = next();
      child.stdin.write(`reset ${nodeId}\n`);
      await answer;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One pgpulse Writer with its own pool, as one app node runs it. */
interface Node {
  writer: Writer;
  close(): Promise<void>;
}

function startNode(url: string, index: number, notify: boolean, maxWaitMs: number): Node {
  const pool = new pg.Pool({ connectionString: url, max: 2, application_name: WRITER_APP });
  // An idle connection ended by the server must not crash the bench; the writer reports its own errors.
  pool.on('error', () => {});
  const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool }) });
  const writer = new Writer(db, { nodeId: `fleet-${index}`, copyPool: pool, notify, maxRows: 2_000, maxWaitMs, maxWritesInFlight: 2 });
  return {
    writer,
    async close() {
      await writer.close();
      await db.destroy();
    },
  };
}

/** What the writers' backends waited on: share of (backend × 10 ms sample) pairs per `type:event`, and NOTIFY-lock waiters in pg_locks. */
function sampleWaits(url: string): { stop(): Promise<{ events: Record<string, number>; notifyLockWaiters: number; samples: number }> } {
  let samples = 0;
  let backendSamples = 0;
  let lockWaiters = 0;
  const counts: Record<string, number> = {};
  const state = { running: true };
  const client = new pg.Client({ connectionString: url });
  const done = (async () => {
    await client.connect();
    while (state.running) {
      const { rows } = await client.query<{ event: string | null; n: number; lock_waiters: number }>(
        `select a.wait_event_type || ':' || a.wait_event as event, count(*)::int as n,
                (select count(*)::int from pg_locks l
                  where l.locktype = 'object' and l.classid = 'pg_database'::regclass and l.objid = 0 and not l.granted) as lock_waiters
           from pg_stat_activity a
          where a.application_name = '${WRITER_APP}' and a.state = 'active'
          group by 1`,
      );
      samples++;
      for (const row of rows) {
        backendSamples += row.n;
        // Wait event names changed case across versions (WALSync in 15, WalSync in 17): keep them lower-case.
        if (row.event) counts[row.event.toLowerCase()] = (counts[row.event.toLowerCase()] ?? 0) + row.n;
      }
      lockWaiters += rows[0]?.lock_waiters ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await client.end();
  })();
  return {
    async stop() {
      state.running = false;
      await done;
      const events = Object.fromEntries(Object.entries(counts).map(([event, n]) => [event, backendSamples ? n / backendSamples : 0]));
      return { events, notifyLockWaiters: samples ? lockWaiters / samples : 0, samples };
    },
  };
}

async function walsenderPid(url: string): Promise<number | undefined> {
  const rows = await query<{ pid: number }>(url, "select pid from pg_stat_activity where backend_type = 'walsender'");
  return rows[0]?.pid;
}

interface ThroughputResult {
  commitsPerSecond: number;
  rowsPerSecond: number;
  p50: number;
  p99: number;
  waits: Record<string, number>;
  notifyLockWaiters: number;
  /** Walsender CPU as a share of one core; NaN without a walsender. */
  walsenderCpu: number;
  notifications: number;
}

let serial = 0;
const nextRows = (count: number, nodeId: string) => Array.from({ length: count }, () => syntheticLog(serial++, nodeId, new Date()));

/** N writers in a closed loop: add a batch, wait for it to commit, repeat. */
async function throughputRound(url: string, mode: Mode, writers: number): Promise<ThroughputResult> {
  const listener = mode === 'none' ? undefined : await startListener(url, mode);
  const nodes = Array.from({ length: writers }, (_, i) => startNode(url, i, mode === 'notify', 0));
  try {
    const latencies: number[] = [];
    let commits = 0;
    let measuring = false;
    let running = true;
    const loops = nodes.map(async (node, i) => {
      while (running) {
        for (const row of nextRows(batchRows, `fleet-${i}`)) node.writer.add(row);
        const started = performance.now();
        await node.writer.flush();
        if (measuring) {
          latencies.push(performance.now() - started);
          commits++;
        }
      }
    });
    // Warm-up: connections open, the walsender catches up.
    await new Promise((resolve) => setTimeout(resolve, quick ? 300 : 1_000));
    const pid = mode === 'wal' ? await walsenderPid(url) : undefined;
    const walCpuBefore = cpuMsOf(pid);
    const notificationsBefore = nodes.reduce((sum, n) => sum + n.writer.stats.notifications, 0);
    const waits = sampleWaits(url);
    measuring = true;
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
    measuring = false;
    const elapsed = (performance.now() - started) / 1_000;
    const walCpu = cpuMsOf(pid) - walCpuBefore;
    const sampled = await waits.stop();
    running = false;
    await Promise.all(loops);
    return {
      commitsPerSecond: commits / elapsed,
      rowsPerSecond: (commits * batchRows) / elapsed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      waits: sampled.events,
      notifyLockWaiters: sampled.notifyLockWaiters,
      walsenderCpu: walCpu / (elapsed * 1_000),
      notifications: nodes.reduce((sum, n) => sum + n.writer.stats.notifications, 0) - notificationsBefore,
    };
  } finally {
    await Promise.all(nodes.map((node) => node.close()));
    await listener?.stop();
  }
}

interface DeliveryResult {
  /** Distinct rows delivered (by id). */
  delivered: number;
  /** Deliveries of a row already delivered (should be 0: exactly once). */
  duplicates: number;
  sent: number;
  p50: number;
  p99: number;
  commitP50: number;
  walsenderCpu: number;
}

const DELIVERY_WRITERS = 4;
const DELIVERY_WAIT_MS = 10;

/** Rows added at a fixed rate over 4 writers (maxWaitMs 10 ms); latency from add to the listener's pubsub. */
async function deliveryRound(url: string, transport: 'notify' | 'wal', rate: number): Promise<DeliveryResult> {
  const listener = await startListener(url, transport);
  const nodes = Array.from({ length: DELIVERY_WRITERS }, (_, i) => startNode(url, i, transport === 'notify', DELIVERY_WAIT_MS));
  const flushTimes: number[] = [];
  for (const node of nodes) node.writer.on('flushed', ({ durationMs }) => flushTimes.push(durationMs));
  try {
    let sent = 0;
    let owed = 0;
    let tick = 0;
    const pace = async (ms: number, count: boolean) => {
      const until = performance.now() + ms;
      let last = performance.now();
      while (performance.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const now = performance.now();
        owed += ((now - last) / 1_000) * rate;
        last = now;
        const whole = Math.floor(owed);
        owed -= whole;
        for (let k = 0; k < whole; k++)
          nodes[tick++ % DELIVERY_WRITERS]!.writer.add(syntheticLog(serial++, count ? 'fleet-measured' : 'fleet-warm-up', new Date()));
        if (count) sent += whole;
      }
    };
    await pace(quick ? 300 : 1_000, false);
    await listener.reset('fleet-measured');
    flushTimes.length = 0;
    const pid = transport === 'wal' ? await walsenderPid(url) : undefined;
    const cpuBefore = cpuMsOf(pid);
    const started = performance.now();
    await pace(seconds * 1_000, true);
    await Promise.all(nodes.map((node) => node.writer.flush()));
    const walCpu = cpuMsOf(pid) - cpuBefore;
    const elapsed = performance.now() - started;
    // Let the last rows arrive (the NOTIFY bridge fetches by id, the WAL stream trails the commit).
    let result = await listener.report();
    for (let waited = 0; result.unique < sent && waited < 5_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      result = await listener.report();
    }
    return {
      delivered: result.unique,
      duplicates: result.count - result.unique,
      sent,
      p50: result.p50,
      p99: result.p99,
      commitP50: percentile(flushTimes, 50),
      walsenderCpu: walCpu / elapsed,
    };
  } finally {
    await Promise.all(nodes.map((node) => node.close()));
    await listener.stop();
  }
}

/** `pg_test_fsync -s 1` on a file in `dir`: fdatasync ops/s (one 8 kB write) or NaN. */
async function fdatasyncOpsPerSecond(dir: string): Promise<{ ops: number; output: string }> {
  const binary = '/usr/lib/postgresql/15/bin/pg_test_fsync';
  try {
    const { stdout } = await promisify(execFile)(binary, ['-s', '1', '-f', join(dir, 'pg_test_fsync.out')], { timeout: 60_000 });
    const match = /^\s*fdatasync\s+([\d,.]+) ops\/sec/m.exec(stdout);
    return { ops: match ? Number(match[1]!.replace(/,/g, '')) : Number.NaN, output: stdout };
  } catch (error) {
    log(`pg_test_fsync failed: ${(error as Error).message}`);
    return { ops: Number.NaN, output: '' };
  }
}

const waitsCell = (r: ThroughputResult) => {
  const lock = r.waits['lock:object'] ?? 0;
  const queue = r.waits['lwlock:notifyqueue'] ?? 0;
  const flush = (r.waits['io:walsync'] ?? 0) + (r.waits['lwlock:walwrite'] ?? 0);
  return `${fmt(lock * 100, 1)}% | ${fmt(queue * 100, 1)}% | ${fmt(flush * 100, 1)}% | ${fmt(r.notifyLockWaiters, 1)}`;
};

const started = Date.now();
log(`starting an embedded Postgres (wal_level=logical, fsync=on); writers ${writerCounts.join(',')}, ${seconds} s per round, batches of ${batchRows} rows`);
const server = await startEmbeddedPostgres({
  // Later -c flags win: fsync=on overrides the embedded helper's fsync=off, so commits pay a real flush.
  postgresFlags: ['-c', 'wal_level=logical', '-c', 'fsync=on', '-c', 'max_wal_senders=10', '-c', 'max_replication_slots=10'],
});
const lines: string[] = [];
try {
  const [settings] = await query<{ fsync: string; synchronous_commit: string; wal_level: string; version: string }>(
    server.url,
    "select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit, current_setting('wal_level') as wal_level, current_setting('server_version') as version",
  );
  if (settings!.fsync !== 'on' || settings!.wal_level !== 'logical')
    throw new Error(`bench: expected fsync=on and wal_level=logical, got ${JSON.stringify(settings)}`);
  await query(server.url, 'create database fleet');
  const url = new URL(server.url);
  url.pathname = '/fleet';
  const dbUrl = url.toString();
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  pool.on('error', () => {});
  const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool }) });
  await migrate(db);
  await maintainPartitions(db);
  await db.destroy();

  const fsyncTest = quick || values['skip-fsync-test'] ? { ops: Number.NaN, output: '' } : await fdatasyncOpsPerSecond(server.dir);
  if (!quick) log(`pg_test_fsync: fdatasync ${fmt(fsyncTest.ops)} ops/s`);

  const modes: Mode[] = ['none', 'notify', 'wal'];
  const results = new Map<string, ThroughputResult>();
  for (const [i, writers] of writerCounts.entries()) {
    // Rotate the order per N so drifting background load does not always hit the same mode.
    const order = modes.map((_, k) => modes[(k + i) % modes.length]!);
    for (const mode of order) {
      const r = await throughputRound(dbUrl, mode, writers);
      results.set(`${mode}:${writers}`, r);
      log(
        `${writers} writer(s), ${MODE_LABEL[mode]}: ${fmt(r.commitsPerSecond)} commits/s, ${fmt(r.rowsPerSecond)} rows/s, p50 ${fmt(r.p50, 1)} ms, ` +
          `p99 ${fmt(r.p99, 1)} ms, waits ${
            Object.entries(r.waits)
              .sort((a, b) => b[1] - a[1])
              .slice(0, 4)
              .map(([e, v]) => `${e} ${fmt(v * 100, 1)}%`)
              .join(', ') || 'none'
          }`,
      );
    }
  }
  const deliveries = new Map<string, DeliveryResult>();
  for (const rate of rates) {
    for (const transport of ['notify', 'wal'] as const) {
      const d = await deliveryRound(dbUrl, transport, rate);
      deliveries.set(`${transport}:${rate}`, d);
      log(
        `delivery ${transport} at ${fmt(rate)} rows/s: ${fmt(d.delivered)}/${fmt(d.sent)} rows (${d.duplicates} duplicates), p50 ${fmt(d.p50)} ms, p99 ${fmt(d.p99)} ms`,
      );
    }
  }

  // Verdicts: where NOTIFY stops scaling, and whether WAL stays within 5% of no bridge.
  const get = (mode: Mode, n: number) => results.get(`${mode}:${n}`)!;
  const notifyCeiling = Math.max(...writerCounts.map((n) => get('notify', n).commitsPerSecond));
  let stopsAt: number | undefined;
  for (const [i, n] of writerCounts.entries()) {
    if (i === 0) continue;
    const prev = get('notify', writerCounts[i - 1]!).commitsPerSecond;
    if (get('notify', n).commitsPerSecond < prev * 1.1 && stopsAt === undefined) stopsAt = writerCounts[i - 1];
  }
  const walWithin = writerCounts.map((n) => get('wal', n).commitsPerSecond / get('none', n).commitsPerSecond);
  const verdict = (ok: boolean) => (quick ? 'n/a (quick)' : ok ? 'met' : '**missed**');

  lines.push(
    `${quick ? '**QUICK MODE (tiny sizes, busy machine, numbers meaningless)** ' : ''}Embedded Postgres ${settings!.version}, ` +
      `fsync=${settings!.fsync}, synchronous_commit=${settings!.synchronous_commit}, wal_level=${settings!.wal_level}, ${cores} CPU cores. ` +
      `N writers = N pgpulse Writers (one per app node, own 2-connection pool, rollups on, COPY) in ONE Node process, each in a closed loop: ` +
      `add ${batchRows} rows, flush, repeat; ${seconds} s per round after a warm-up. Batch latency = flush() time: the insert's commit, plus the ` +
      `after-commit NOTIFY (its own transaction, which takes the NOTIFY lock and flushes WAL) in NOTIFY mode. Waits: share of the writers' active ` +
      `backends × 10 ms samples in pg_stat_activity; \`Lock:object\` is the cluster-wide NOTIFY commit lock (AccessExclusive on object 0 of ` +
      `pg_database), \`LWLock:NotifyQueue\` the queue itself, WAL flush = \`IO:WALSync\` + \`LWLock:WALWrite\`; "lock waiters" = mean not-granted ` +
      `rows for that lock in pg_locks. pg_test_fsync -s 1 on the same disk: fdatasync ${fmt(fsyncTest.ops)} ops/s.`,
    '',
    '| N | mode | commits/s | rows/s | vs no bridge | batch p50 ms | batch p99 ms | NOTIFY lock (Lock:object) | LWLock:NotifyQueue | WAL flush | lock waiters | walsender CPU |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const n of writerCounts) {
    for (const mode of modes) {
      const r = get(mode, n);
      lines.push(
        `| ${n} | ${MODE_LABEL[mode]} | ${fmt(r.commitsPerSecond)} | ${fmt(r.rowsPerSecond)} | ${fmt((r.commitsPerSecond / get('none', n).commitsPerSecond) * 100)}% | ` +
          `${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${waitsCell(r)} | ${mode === 'wal' ? `${fmt(r.walsenderCpu * 100, 1)}%` : '–'} |`,
      );
    }
  }
  lines.push(
    '',
    `Delivery latency: rows added at a fixed rate over ${DELIVERY_WRITERS} writers (maxWaitMs ${DELIVERY_WAIT_MS} ms, so up to ${DELIVERY_WAIT_MS} ms of ` +
      `buffering is included), measured from add to the listener's pubsub (the commit's own latency is the "commit p50" column).`,
    '',
    '| rows/s | transport | delivered / sent (duplicates) | add → delivered p50 ms | p99 ms | commit p50 ms | walsender CPU |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const rate of rates) {
    for (const transport of ['notify', 'wal'] as const) {
      const d = deliveries.get(`${transport}:${rate}`)!;
      lines.push(
        `| ${fmt(rate)} | ${transport === 'notify' ? 'NOTIFY bridge' : 'WAL transport'} | ${fmt(d.delivered)} / ${fmt(d.sent)} (${d.duplicates}) | ${fmt(d.p50)} | ` +
          `${fmt(d.p99)} | ${fmt(d.commitP50, 1)} | ${transport === 'wal' ? `${fmt(d.walsenderCpu * 100, 1)}%` : '–'} |`,
      );
    }
  }
  const prediction = Number.isFinite(fsyncTest.ops) ? (notifyCeiling / fsyncTest.ops) * 500 : Number.NaN;
  lines.push(
    '',
    '| target | measured | verdict |',
    '| --- | --- | --- |',
    `| NOTIFY stops scaling (commits/s grow < 10% from one N to the next) | ${writerCounts.map((n) => `${n}: ${fmt(get('notify', n).commitsPerSecond)}`).join(' → ')}; ` +
      `stops at N = ${stopsAt ?? `> ${writerCounts.at(-1)}`}, ceiling ${fmt(notifyCeiling)} notifying commits/s vs fdatasync ${fmt(fsyncTest.ops)} ops/s | measured |`,
    `| WAL transport within 5% of no bridge at every N | ${writerCounts.map((n, i) => `${n}: ${fmt(walWithin[i]! * 100)}%`).join(', ')} | ` +
      `${verdict(walWithin.every((w) => w >= 0.95))} |`,
    `| NOTIFY falls behind no bridge as N grows | ${writerCounts.map((n) => `${n}: ${fmt((get('notify', n).commitsPerSecond / get('none', n).commitsPerSecond) * 100)}%`).join(', ')} | ` +
      `${verdict(get('notify', writerCounts.at(-1)!).commitsPerSecond / get('none', writerCounts.at(-1)!).commitsPerSecond < get('notify', writerCounts[0]!).commitsPerSecond / get('none', writerCounts[0]!).commitsPerSecond)} |`,
    `| prediction for a server with 2 ms flushes (500 flushes/s): ceiling × 500 / fdatasync ops/s here | ~${fmt(prediction)} notifying commits/s cluster-wide ` +
      `= ~${fmt(prediction / 10)} pgpulse nodes at 10 batches/s each (maxWaitMs 100 ms) | estimate |`,
  );
  log(`done in ${fmt((Date.now() - started) / 1_000)} s`);
} finally {
  await server.dispose();
}
console.log(lines.join('\n'));
if (!quick) {
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  let text = await readFile(file, 'utf8');
  if (!text.includes('<!-- fleet:start -->')) {
    text += '\n## The NOTIFY ceiling and the WAL transport (`npm run bench:fleet`)\n\n<!-- fleet:start -->\n<!-- fleet:end -->\n';
  }
  const begin = text.indexOf('<!-- fleet:start -->');
  const end = text.indexOf('<!-- fleet:end -->');
  const when = `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`;
  await writeFile(file, `${text.slice(0, begin)}<!-- fleet:start -->\n${when}\n\n${lines.join('\n')}\n${text.slice(end)}`);
  log('wrote BENCHMARKS.md');
}

/**
 * pgpulse benchmarks. `npm run bench` runs the full set and writes the tables
 * into BENCHMARKS.md (between the bench:start/bench:end markers); `npm run
 * bench:quick` runs every scenario tiny, prints the tables and writes nothing
 * (CI smoke; asserts nothing about time). `--out <file>` also writes the
 * tables to a file of your choice (the quick test uses it).
 * Postgres: --database-url, else $DATABASE_URL, else the local server.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBridge, benchNotifyPerRow } from './bridge.js';
import { benchCaptureOverhead, wrkAvailable, type CaptureResult, type Framework, type LoadTool } from './capture-overhead.js';
import { benchFanout } from './fanout.js';
import { benchCopy, benchInsertPerRow, benchMultiRowValues, benchPipeline, type PipelineResult } from './ingest.js';
import { createBenchDatabase, prepareBenchDatabase, serverVersion } from './lib/bench-database.js';
import { fmt, ratio } from './lib/percentiles.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'database-url': { type: 'string' }, out: { type: 'string' } } });
const quick = values.quick ?? false;
const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const size = quick
  ? {
      captureS: 1,
      warmupS: 0.5,
      connections: [10],
      // Fewer server processes in the smoke run; the full run measures all three.
      frameworks: ['node', 'fastify'] as Framework[],
      rounds: 1,
      pipelineRows: 20_000,
      validatedRows: 5_000,
      pacedRows: 5_000,
      pacedRates: [5_000, 20_000],
      perRowRows: 500,
      valuesRows: 10_000,
      copyRows: 20_000,
      bridgeS: 0.5,
      bridgeRates: [1_000, 10_000],
      perRowS: 0.5,
      fanoutEvents: 20_000,
    }
  : {
      captureS: 6,
      warmupS: 1,
      connections: [10, 50],
      frameworks: ['node', 'express', 'fastify'] as Framework[],
      rounds: 3,
      pipelineRows: 1_000_000,
      validatedRows: 200_000,
      pacedRows: 1_000_000,
      pacedRates: [50_000, 100_000],
      perRowRows: 50_000,
      valuesRows: 500_000,
      copyRows: 1_000_000,
      bridgeS: 10,
      bridgeRates: [1_000, 10_000, 50_000],
      perRowS: 10,
      fanoutEvents: 1_000_000,
    };

const lines: string[] = [];
const out = (line = '') => {
  lines.push(line);
  console.log(line);
};
const began = performance.now();
const step = (what: string) => console.error(`[bench] ${((performance.now() - began) / 1000).toFixed(0)} s: ${what}…`);
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
const targets: string[] = [];
const frameworkNames: Record<Framework, string> = { node: 'node:http', express: 'Express 5', fastify: 'Fastify 5' };

const loadAtStart = loadavg()[0]!;
const database = await createBenchDatabase(serverUrl);
console.error(`[bench] database ${new URL(database.url).pathname.slice(1)}`);
try {
  await prepareBenchDatabase(database.url);
  const pgVersion = await serverVersion(database.url);
  out(
    `Run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpus().length} cores (${cpus()[0]?.model.trim()}) · ${fmt(totalmem() / 2 ** 30)} GiB · Node ${process.version} · Postgres ${pgVersion} on loopback${quick ? ' · QUICK MODE (tiny sizes, figures meaningless)' : ''}`,
  );
  out();
  step('capture overhead');
  const tools: LoadTool[] = (await wrkAvailable()) ? ['autocannon', 'wrk'] : ['autocannon'];
  if (tools.length === 1) console.error('[bench] wrk not found (Debian: apt-get install wrk): capture overhead under autocannon only');
  reportCapture(
    await benchCaptureOverhead(database.url, {
      durationS: size.captureS,
      warmupS: size.warmupS,
      rounds: size.rounds,
      tools,
      connections: size.connections,
      frameworks: size.frameworks,
      everywhere: ['plain', 'pino', 'worker'],
    }),
    tools,
  );
  step('ingest');
  await ingest(database.url);
  step('bridge');
  await bridge(database.url);
  step('fan-out');
  await fanout();
  step('done');
  const busy = Math.max(loadAtStart, loadavg()[0]!) > cpus().length;
  out(
    `Load average (1 min) at start / end of the run: ${fmt(loadAtStart, 1)} / ${fmt(loadavg()[0]!, 1)} on ${cpus().length} cores${busy ? ' — above the core count: other processes competed for the CPU, so absolute rates are depressed (CPU µs per request/row much less so)' : ''}.`,
  );
  out();
  out('### Targets');
  out();
  out('| target | measured | verdict |');
  out('| --- | --- | --- |');
  for (const line of targets) out(line);
  out();
} finally {
  await database.drop();
}
await save();

function reportCapture(capture: CaptureResult[], tools: readonly LoadTool[]): void {
  out(
    `### 1. Capture overhead (hello world, server in its own process, ${tools.join(' and ')} at ${size.connections.join(' and ')} connections, median of ${size.rounds} round${size.rounds > 1 ? 's' : ''})`,
  );
  out();
  out(
    '| server | load | variant | req/s | vs plain | p99 ms | event-loop CPU µs/req | added vs plain | process CPU µs/req (all threads) | added vs plain | Postgres CPU µs/req | event-loop delay p99 ms |',
  );
  out('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const find = (r: Pick<CaptureResult, 'framework' | 'tool' | 'connections'>, variant: string) =>
    capture.find((c) => c.framework === r.framework && c.tool === r.tool && c.connections === r.connections && c.variant === variant);
  const labels = { plain: 'plain', capture: 'pgpulse capture only (store: false)' } as const;
  for (const r of capture) {
    const plain = find(r, 'plain')!;
    const label =
      r.variant === 'worker' || r.variant === 'in-process'
        ? `pgpulse, writer ${r.variant === 'worker' ? 'in a worker thread' : 'in-process'}${r.writerMode && r.writerMode !== r.variant ? ` (ran ${r.writerMode}!)` : ''} (${fmt(r.rowsWritten ?? 0)} rows written)`
        : r.variant === 'pino'
          ? r.framework === 'fastify'
            ? "Fastify's pino request log → /dev/null"
            : 'pino-http → /dev/null'
          : labels[r.variant];
    const added = (value: number, base: number) => (r.variant === 'plain' ? '' : `${value - base >= 0 ? '+' : ''}${fmt(value - base, 1)}`);
    out(
      `| ${frameworkNames[r.framework]} | ${r.tool} ×${r.connections} | ${label} | ${fmt(r.rps)} | ${ratio(r.rps, plain.rps)} | ${fmt(r.p99Ms, 1)} | ${fmt(r.mainCpuUsPerRequest, 1)} | ${added(r.mainCpuUsPerRequest, plain.mainCpuUsPerRequest)} | ${fmt(r.cpuUsPerRequest, 1)} | ${added(r.cpuUsPerRequest, plain.cpuUsPerRequest)} | ${fmt(r.postgresCpuUsPerRequest, 1)} | ${fmt(r.loopDelayP99Ms, 1)} |`,
    );
  }
  out();
  out(
    "Event-loop CPU is the main thread's own CPU time (utime + stime of `/proc/self/task/<pid>/stat`; Node 20 has no `process.threadCpuUsage()`), so it excludes the writer worker, GC helper threads and the libuv pool; process CPU is `process.cpuUsage()`, every thread of the app process. Postgres CPU is the CPU time of the bench database's backends (the writer's pool) over the measured window, read from /proc. All three count from the end of the warm-up to exit (so they include the writer's final flush), divided by the requests served in that window. \"Added\" is the difference to the plain app of the same framework under the same load in the same run. Event-loop delay is the p99 of `monitorEventLoopDelay` (1 ms resolution).",
  );
  out();
  captureTargets(capture, find);
}

function captureTargets(capture: CaptureResult[], find: (r: CaptureResult, variant: string) => CaptureResult | undefined): void {
  const loads = capture.filter((c) => c.variant === 'worker');
  const added = (r: CaptureResult, field: 'cpuUsPerRequest' | 'mainCpuUsPerRequest') => r[field] - find(r, 'plain')![field];
  const where = (r: CaptureResult) => `${frameworkNames[r.framework]} ${r.tool} ×${r.connections}`;
  const cpuCells = loads.map((r) => `${where(r)}: +${fmt(added(r, 'cpuUsPerRequest'), 1)} vs +${fmt(added(find(r, 'pino')!, 'cpuUsPerRequest'), 1)} µs`);
  const captureOnly = capture.filter((c) => c.variant === 'capture');
  targets.push(
    `| event-loop CPU added by capture ≤ 5 µs/request (capture only) | ${captureOnly.map((r) => `${where(r)}: ${fmt(added(r, 'mainCpuUsPerRequest'), 1)} µs`).join('; ')}; with the worker writer: ${loads.map((r) => `${where(r)}: ${fmt(added(r, 'mainCpuUsPerRequest'), 1)} µs`).join('; ')} | ${verdict(captureOnly.every((r) => added(r, 'mainCpuUsPerRequest') <= 5))} |`,
    `| process CPU added per request with the writer (worker, all threads) ≤ pino's added, every framework, tool and connection count | ${cpuCells.join('; ')} | ${verdict(loads.every((r) => added(r, 'cpuUsPerRequest') <= added(find(r, 'pino')!, 'cpuUsPerRequest')))} |`,
    `| req/s with the writer (worker) ≥ pino's | ${loads.map((r) => `${where(r)}: ${fmt(r.rps)} vs ${fmt(find(r, 'pino')!.rps)}`).join('; ')} | ${verdict(loads.every((r) => r.rps >= find(r, 'pino')!.rps))} |`,
    `| Postgres CPU per row with the writer (worker) | ${loads.map((r) => `${where(r)}: ${fmt(r.postgresCpuUsPerRequest, 1)} µs`).join('; ')} | (reported) |`,
  );
}

function cpuCells(r: PipelineResult): string {
  return `${fmt(r.nodeCpuUsPerRow, 1)} | ${fmt(r.postgresCpuUsPerRow, 1)}`;
}

function latencyCell(r: PipelineResult): string {
  return `${fmt(r.p50Ms, 0)} / ${fmt(r.p99Ms, 0)}`;
}

function rssSummary(r: PipelineResult): string {
  return `first ${fmt(r.rssMiB[0]!)}, last ${fmt(r.rssMiB.at(-1)!)}, max ${fmt(Math.max(...r.rssMiB))} MiB (${r.rssMiB.map((m) => fmt(m)).join(' → ')})`;
}

async function ingest(url: string): Promise<void> {
  const maxRate = await benchPipeline(url, size.pipelineRows, { notify: false });
  const validated = await benchPipeline(url, size.validatedRows, { notify: false, validated: true });
  const withBridge = await benchPipeline(url, size.pipelineRows, { notify: true });
  const paced: { rate: number; result: PipelineResult }[] = [];
  for (const rate of size.pacedRates) paced.push({ rate, result: await benchPipeline(url, size.pacedRows, { notify: false, ratePerSecond: rate }) });
  const perRow = await benchInsertPerRow(url, size.perRowRows);
  const multiValues = await benchMultiRowValues(url, size.valuesRows);
  const copy = await benchCopy(url, size.copyRows);
  out('### 2. Ingest: RequestLogs → Postgres');
  out();
  out('| method | rows | rows/s | vs COPY | broadcast→commit p50 / p99 ms | Node CPU µs/row | Postgres CPU µs/row |');
  out('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  out(
    `| pgpulse \`publish\` → writer, max rate | ${fmt(maxRate.rows)} | ${fmt(maxRate.rowsPerSecond)} | ${ratio(maxRate.rowsPerSecond, copy)} | ${latencyCell(maxRate)} (queueing: up to 50,000 pending) | ${cpuCells(maxRate)} |`,
  );
  out(
    `| pgpulse \`broadcast\` (zod-validated) → writer, max rate | ${fmt(validated.rows)} | ${fmt(validated.rowsPerSecond)} | ${ratio(validated.rowsPerSecond, copy)} | ${latencyCell(validated)} (queueing) | ${cpuCells(validated)} |`,
  );
  for (const { rate, result } of paced)
    out(
      `| pgpulse \`publish\`, paced at ${fmt(rate)}/s | ${fmt(result.rows)} | ${fmt(result.rowsPerSecond)} | ${ratio(result.rowsPerSecond, copy)} | ${latencyCell(result)} | ${cpuCells(result)} |`,
    );
  out(
    `| pgpulse with NOTIFY bridge on, max rate | ${fmt(withBridge.rows)} | ${fmt(withBridge.rowsPerSecond)} | ${ratio(withBridge.rowsPerSecond, copy)} | bridge on = ${ratio(withBridge.rowsPerSecond, maxRate.rowsPerSecond)} of bridge off | ${cpuCells(withBridge)} |`,
  );
  out(`| one INSERT per row (4 clients) | ${fmt(size.perRowRows)} | ${fmt(perRow)} | ${ratio(perRow, copy)} | | | |`);
  out(`| multi-row VALUES, 1,000 rows/statement | ${fmt(size.valuesRows)} | ${fmt(multiValues)} | ${ratio(multiValues, copy)} | | | |`);
  out(`| COPY FROM STDIN (pg-copy-streams), ceiling | ${fmt(size.copyRows)} | ${fmt(copy)} | 100% | | | |`);
  out();
  out(
    `Memory (RSS of the publishing process, sampled each tenth of the run): max-rate ${fmt(maxRate.rows)} rows: ${rssSummary(maxRate)}; paced at ${fmt(paced.at(-1)!.rate)}/s: ${rssSummary(paced.at(-1)!.result)}. Dropped rows in all runs: ${[maxRate, validated, withBridge, ...paced.map((p) => p.result)].reduce((n, r) => n + r.dropped, 0)}.`,
  );
  out();
  const fastest = paced.at(-1)!;
  const onOff = withBridge.rowsPerSecond / maxRate.rowsPerSecond;
  const rssTail = maxRate.rssMiB.slice(Math.ceil(maxRate.rssMiB.length / 2));
  const rssSpread = Math.max(...rssTail) - Math.min(...rssTail);
  targets.push(
    `| ingest ≥ 100,000 rows/s sustained | ${fmt(maxRate.rowsPerSecond)} rows/s (COPY ceiling in the same run: ${fmt(copy)}) | ${verdict(maxRate.rowsPerSecond >= 100_000)} |`,
    `| broadcast→commit p99 < 250 ms at ${fmt(fastest.rate)}/s | ${fmt(fastest.result.p99Ms, 0)} ms (achieved ${fmt(fastest.result.rowsPerSecond)}/s) | ${verdict(fastest.result.p99Ms < 250 && fastest.result.rowsPerSecond >= fastest.rate * 0.95)} |`,
    `| write throughput with bridge within 10% of without | ${ratio(onOff, 1)} | ${verdict(onOff >= 0.9)} |`,
    `| RSS flat at steady state | last half of the max-rate run varies by ${fmt(rssSpread)} MiB (max ${fmt(Math.max(...maxRate.rssMiB))} MiB) | ${verdict(rssSpread < 64)} |`,
  );
}

async function bridge(url: string): Promise<void> {
  const results = await benchBridge(url, size.bridgeRates, size.bridgeS);
  const naive = await benchNotifyPerRow(url, size.perRowS);
  out('### 3. NOTIFY bridge: broadcast → listener in another process');
  out();
  out('| publisher | rows/s | delivered / published | p50 ms | p99 ms |');
  out('| --- | ---: | ---: | ---: | ---: |');
  for (const r of [...results, naive])
    out(`| ${r.label} | ${fmt(r.rowsPerSecond)} | ${fmt(r.delivered)} / ${fmt(r.published)} | ${fmt(r.p50Ms, 0)} | ${fmt(r.p99Ms, 0)} |`);
  out();
  const tenK = results.find((b) => b.label.includes('10,000'));
  targets.push(`| bridge p99 < 100 ms at 10k/s | ${tenK ? `${fmt(tenK.p99Ms, 0)} ms` : 'n/a'} | ${verdict(!!tenK && tenK.p99Ms < 100)} |`);
}

async function fanout(): Promise<void> {
  out('### 4. Local PubSub fan-out (sync subscribers)');
  out();
  out('| subscribers | events/s | deliveries/s |');
  out('| ---: | ---: | ---: |');
  for (const n of [1, 10, 100]) {
    const events = Math.max(1_000, Math.round(size.fanoutEvents / Math.sqrt(n)));
    const rate = await benchFanout(n, events);
    out(`| ${n} | ${fmt(rate)} | ${fmt(rate * n)} |`);
  }
  out();
}

async function save(): Promise<void> {
  if (values.out) {
    await writeFile(values.out, `${lines.join('\n')}\n`);
    console.error(`[bench] wrote ${values.out}`);
  }
  if (quick) {
    console.error('[bench] quick mode: BENCHMARKS.md left unchanged');
    return;
  }
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  const current = await readFile(file, 'utf8').catch(() => '<!-- bench:start -->\n<!-- bench:end -->\n');
  const start = current.indexOf('<!-- bench:start -->');
  const end = current.indexOf('<!-- bench:end -->');
  if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- bench:start --> / <!-- bench:end --> markers');
  await writeFile(file, `${current.slice(0, start)}<!-- bench:start -->\n${lines.join('\n')}\n${current.slice(end)}`);
  console.error('[bench] wrote BENCHMARKS.md');
}

/**
 * pgpulse benchmarks. `npm run bench` runs the full set and writes the table
 * into BENCHMARKS.md; `npm run bench:quick` runs every scenario tiny, prints
 * the table and writes nothing (CI smoke; asserts nothing about time).
 * Postgres: --database-url, else $DATABASE_URL, else the local server.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrate } from '../dist/migrate.js';
import { benchBridge, benchNotifyPerRow } from './bridge.js';
import { benchCaptureOverhead } from './capture-overhead.js';
import { benchFanout } from './fanout.js';
import { benchCopy, benchInsertPerRow, benchMultiRowValues, benchPipeline } from './ingest.js';
import { createBenchDatabase, serverVersion } from './lib/bench-database.js';
import { fmt, ratio } from './lib/percentiles.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'database-url': { type: 'string' } } });
const quick = values.quick ?? false;
const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const size = quick
  ? { captureS: 1, rounds: 1, pipelineRows: 20_000, pacedRows: 10_000, pacedRate: 20_000, perRowRows: 1_000, valuesRows: 10_000, copyRows: 20_000, bridgeS: 1, bridgeRates: [1_000, 10_000], perRowS: 1, fanoutEvents: 20_000 }
  : { captureS: 8, rounds: 3, pipelineRows: 1_000_000, pacedRows: 1_000_000, pacedRate: 100_000, perRowRows: 50_000, valuesRows: 500_000, copyRows: 1_000_000, bridgeS: 10, bridgeRates: [1_000, 10_000, 50_000], perRowS: 10, fanoutEvents: 1_000_000 };

const lines: string[] = [];
const targets: string[] = [];
const out = (line = '') => {
  lines.push(line);
  console.log(line);
};
const step = (what: string) => console.error(`[bench] ${what}…`);

const database = await createBenchDatabase(serverUrl);
const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 1 }) }) });
try {
  await migrate(db);
  await db.destroy();
  const pgVersion = await serverVersion(database.url);
  out(`Run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpus().length} cores (${cpus()[0]?.model.trim()}) · ${fmt(totalmem() / 2 ** 30)} GiB · Node ${process.version} · Postgres ${pgVersion} on loopback${quick ? ' · QUICK MODE (tiny sizes, figures meaningless)' : ''}`);
  out();

  step('capture overhead');
  const capture = await benchCaptureOverhead(database.url, { durationS: size.captureS, rounds: size.rounds });
  out('### 1. Capture overhead (hello world under autocannon, 10 connections, server in its own process)');
  out();
  out('| server | variant | req/s | vs plain | p99 ms |');
  out('| --- | --- | ---: | ---: | ---: |');
  for (const r of capture) {
    const plain = capture.find((c) => c.framework === r.framework && c.variant === 'plain')!;
    const label =
      r.variant === 'pgpulse'
        ? `pgpulse (writer on, ${fmt(r.rowsWritten ?? 0)} rows written)`
        : r.variant === 'capture'
          ? 'pgpulse capture only (store: false)'
          : r.variant === 'pino'
            ? 'pino-http → /dev/null'
            : 'plain';
    out(`| ${r.framework === 'node' ? 'node:http' : 'Express 5'} | ${label} | ${fmt(r.rps)} | ${ratio(r.rps, plain.rps)} | ${fmt(r.p99Ms, 1)} |`);
  }
  out();

  step('ingest');
  const throughput = await benchPipeline(database.url, size.pipelineRows, { notify: false });
  const withBridge = await benchPipeline(database.url, size.pipelineRows, { notify: true });
  const paced = await benchPipeline(database.url, size.pacedRows, { notify: false, ratePerSecond: size.pacedRate });
  const perRow = await benchInsertPerRow(database.url, size.perRowRows);
  const multiValues = await benchMultiRowValues(database.url, size.valuesRows);
  const copy = await benchCopy(database.url, size.copyRows);
  out(`### 2. Ingest: RequestLogs → Postgres`);
  out();
  out('| method | rows | rows/s | vs COPY | broadcast→commit p50 / p99 ms |');
  out('| --- | ---: | ---: | ---: | ---: |');
  out(`| pgpulse publish → writer (max rate) | ${fmt(throughput.rows)} | ${fmt(throughput.rowsPerSecond)} | ${ratio(throughput.rowsPerSecond, copy)} | ${fmt(throughput.p50Ms, 0)} / ${fmt(throughput.p99Ms, 0)} (queueing at max rate) |`);
  out(`| pgpulse, paced at ${fmt(size.pacedRate)}/s | ${fmt(paced.rows)} | ${fmt(paced.rowsPerSecond)} | ${ratio(paced.rowsPerSecond, copy)} | ${fmt(paced.p50Ms, 0)} / ${fmt(paced.p99Ms, 0)} |`);
  out(`| pgpulse with NOTIFY bridge on (max rate) | ${fmt(withBridge.rows)} | ${fmt(withBridge.rowsPerSecond)} | ${ratio(withBridge.rowsPerSecond, copy)} | bridge on = ${ratio(withBridge.rowsPerSecond, throughput.rowsPerSecond)} of bridge off |`);
  out(`| one INSERT per row (4 clients) | ${fmt(size.perRowRows)} | ${fmt(perRow)} | ${ratio(perRow, copy)} | |`);
  out(`| multi-row VALUES, 1,000 rows/statement | ${fmt(size.valuesRows)} | ${fmt(multiValues)} | ${ratio(multiValues, copy)} | |`);
  out(`| COPY FROM STDIN (pg-copy-streams), ceiling | ${fmt(size.copyRows)} | ${fmt(copy)} | 100% | |`);
  out();
  out(`Memory (RSS MiB, sampled each tenth of the ${fmt(throughput.rows)}-row max-rate run): ${throughput.rssMiB.map((m) => fmt(m)).join(' → ')}; paced run: ${paced.rssMiB.map((m) => fmt(m)).join(' → ')}. Dropped rows: ${throughput.dropped + paced.dropped + withBridge.dropped}.`);
  out();

  step('bridge');
  const bridge = await benchBridge(database.url, size.bridgeRates, size.bridgeS);
  const naive = await benchNotifyPerRow(database.url, size.perRowS);
  out('### 3. NOTIFY bridge: broadcast → listener in another process');
  out();
  out('| publisher | rows/s | delivered / published | p50 ms | p99 ms |');
  out('| --- | ---: | ---: | ---: | ---: |');
  for (const r of [...bridge, naive]) out(`| ${r.label} | ${fmt(r.rowsPerSecond)} | ${fmt(r.delivered)} / ${fmt(r.published)} | ${fmt(r.p50Ms, 0)} | ${fmt(r.p99Ms, 0)} |`);
  out();

  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const nodeRatio = (v: string) => capture.find((c) => c.framework === 'node' && c.variant === v)!.rps / capture.find((c) => c.framework === 'node' && c.variant === 'plain')!.rps;
  const expressRatio = (v: string) => capture.find((c) => c.framework === 'express' && c.variant === v)!.rps / capture.find((c) => c.framework === 'express' && c.variant === 'plain')!.rps;
  const tenK = bridge.find((b) => b.label.includes('10,000'));
  const onOff = withBridge.rowsPerSecond / throughput.rowsPerSecond;
  const rssTail = throughput.rssMiB.slice(Math.ceil(throughput.rssMiB.length / 2));
  const rssGrowth = Math.max(...rssTail) - Math.min(...rssTail);
  targets.push(
    `| capture keeps ≥ 95% of plain throughput | node:http ${ratio(nodeRatio('pgpulse'), 1)}, Express ${ratio(expressRatio('pgpulse'), 1)} | ${verdict(nodeRatio('pgpulse') >= 0.95 && expressRatio('pgpulse') >= 0.95)} |`,
    `| capture beats pino-http | node:http ${ratio(nodeRatio('pgpulse'), 1)} vs ${ratio(nodeRatio('pino'), 1)}, Express ${ratio(expressRatio('pgpulse'), 1)} vs ${ratio(expressRatio('pino'), 1)} | ${verdict(nodeRatio('pgpulse') > nodeRatio('pino') && expressRatio('pgpulse') > expressRatio('pino'))} |`,
    `| ingest ≥ 100,000 rows/s sustained | ${fmt(throughput.rowsPerSecond)} rows/s (COPY: ${fmt(copy)}) | ${verdict(throughput.rowsPerSecond >= 100_000)} |`,
    `| broadcast→commit p99 < 250 ms at ${fmt(size.pacedRate)}/s | ${fmt(paced.p99Ms, 0)} ms (achieved ${fmt(paced.rowsPerSecond)}/s) | ${verdict(paced.p99Ms < 250 && paced.rowsPerSecond >= size.pacedRate * 0.95)} |`,
    `| bridge p99 < 100 ms at 10k/s | ${tenK ? `${fmt(tenK.p99Ms, 0)} ms` : 'n/a'} | ${verdict(!!tenK && tenK.p99Ms < 100)} |`,
    `| write throughput with bridge within 10% of without | ${ratio(onOff, 1)} | ${verdict(onOff >= 0.9)} |`,
    `| RSS flat at steady state | last half of the run varies by ${fmt(rssGrowth)} MiB | ${verdict(rssGrowth < 64)} |`,
  );

  step('fan-out');
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
  out('### Targets');
  out();
  out('| target | measured | verdict |');
  out('| --- | --- | --- |');
  for (const line of targets) out(line);
  out();
} finally {
  await database.drop();
}

if (quick) {
  console.error('[bench] quick mode: BENCHMARKS.md left unchanged');
} else {
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  const current = await readFile(file, 'utf8').catch(() => '<!-- bench:start -->\n<!-- bench:end -->\n');
  const start = current.indexOf('<!-- bench:start -->');
  const end = current.indexOf('<!-- bench:end -->');
  if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- bench:start --> / <!-- bench:end --> markers');
  await writeFile(file, `${current.slice(0, start)}<!-- bench:start -->\n${lines.join('\n')}\n${current.slice(end)}`);
  console.error('[bench] wrote BENCHMARKS.md');
}

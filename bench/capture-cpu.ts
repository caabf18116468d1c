/**
 * Capture CPU harness (`npm run bench:capture-cpu`): what pgpulse capture
 * costs in CPU time per request, which (unlike req/s or latency) hardly
 * depends on who else uses the cores, so it can be run on a busy machine.
 *
 * Each variant of the capture-overhead bench (`http-server.ts`: plain,
 * pino-http → /dev/null, capture only, writer in a worker thread, writer
 * in-process) runs in its own process; autocannon in this process sends it a
 * warm-up, the server restarts its counters, then a fixed number of requests
 * at a fixed concurrency. Reported per request: the main thread's CPU (the
 * event loop, from `/proc/self/task/<pid>/schedstat`) and the whole process's
 * CPU (all threads, `process.cpuUsage()`), both up to exit so the writer's
 * final flush is included, and each minus the plain server's. Variants
 * alternate within each round; figures are the least of the rounds (other
 * load only adds CPU time), medians in brackets.
 *
 * Options: --framework node|express (default node), --requests (20,000),
 * --warmup (5,000), --connections (10), --rounds (3), --variants
 * (comma-separated, default all), --database-url, --node-arg (repeatable,
 * passed to the servers' node, e.g. --node-arg=--cpu-prof
 * --node-arg=--cpu-prof-dir=/tmp/prof), --baseline-dist <dir> (the `dist/`
 * of another build of pgpulse, e.g. an older commit: `git archive <commit>
 * src tsconfig.json tsconfig.build.json package.json | tar -x -C <tmp>`, link
 * node_modules, `npx tsc -p tsconfig.build.json`; every pgpulse variant then
 * also runs on that build, alternating with this one, so before and after
 * are compared in one run under the same load).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startBenchServer, variants, type Variant } from './capture-overhead.js';
import { createBenchDatabase, prepareBenchDatabase } from './lib/bench-database.js';
import { fmt, percentile } from './lib/percentiles.js';

const { values } = parseArgs({
  options: {
    framework: { type: 'string', default: 'node' },
    requests: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    variants: { type: 'string', default: variants.join(',') },
    'database-url': { type: 'string' },
    'node-arg': { type: 'string', multiple: true, default: [] },
    'baseline-dist': { type: 'string' },
  },
});
const baselineDist = values['baseline-dist'];
const framework = values.framework;
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const chosen = values.variants.split(',') as Variant[];
for (const variant of chosen) if (!variants.includes(variant)) throw new Error(`unknown variant ${variant}; one of ${variants.join(', ')}`);
const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Sample {
  main: number[];
  process: number[];
  served: number;
  rows: number;
}

const labels: Record<Variant, string> = {
  plain: 'plain',
  pino: 'pino-http → /dev/null',
  capture: 'pgpulse capture only (store: false)',
  worker: 'pgpulse, writer in a worker thread',
  'in-process': 'pgpulse, writer in-process',
};

/** One server configuration: a variant, on this build or on the baseline build. */
interface Run {
  key: string;
  variant: Variant;
  label: string;
  dist?: string;
}
const runs: Run[] = chosen.flatMap((variant): Run[] => {
  const current: Run = { key: variant, variant, label: labels[variant] };
  if (!baselineDist || variant === 'plain' || variant === 'pino') return [current];
  return [{ key: `baseline ${variant}`, variant, label: `${labels[variant]} (baseline)`, dist: baselineDist }, current];
});

const loadAtStart = loadavg();
const database = await createBenchDatabase(serverUrl);
const samples = new Map<string, Sample>(runs.map((r) => [r.key, { main: [], process: [], served: 0, rows: 0 }]));
try {
  await prepareBenchDatabase(database.url);
  for (let round = 0; round < rounds; round++) {
    for (const run of round % 2 === 0 ? runs : [...runs].reverse()) {
      const server = await startBenchServer(framework, run.variant, database.url, values['node-arg'], run.dist);
      await autocannon({ url: server.url, connections, amount: warmup });
      await server.reset();
      await autocannon({ url: server.url, connections, amount: requests });
      const stats = await server.stop();
      const sample = samples.get(run.key)!;
      sample.main.push((stats.mainCpuUs ?? Number.NaN) / stats.requests);
      sample.process.push(stats.cpuUs / stats.requests);
      sample.served += stats.requests;
      sample.rows += stats.writer?.written ?? 0;
      console.error(
        `[capture-cpu] round ${round + 1}/${rounds} ${run.key}: main ${fmt(sample.main.at(-1)!, 1)} µs/req, process ${fmt(sample.process.at(-1)!, 1)} µs/req`,
      );
    }
  }
} finally {
  await database.drop();
}

/**
 * Least of the rounds: on a shared machine other load only adds CPU time per
 * request (cache and core contention), so the least is the closest to the
 * cost on a quiet machine; the median is printed next to it.
 */
const least = (key: string, what: 'main' | 'process') => Math.min(...samples.get(key)![what]);
const median = (key: string, what: 'main' | 'process') => percentile(samples.get(key)![what], 50);
const added = (key: string, what: 'main' | 'process') => (samples.has('plain') && key !== 'plain' ? least(key, what) - least('plain', what) : Number.NaN);
const loadAtEnd = loadavg();
console.log(
  `Capture CPU, ${framework === 'express' ? 'Express 5' : 'node:http'} hello world: ${fmt(requests)} requests after ${fmt(warmup)} warm-up, ${connections} connections, least of ${rounds} round${rounds > 1 ? 's' : ''} (median in brackets); load average (1 min) ${fmt(loadAtStart[0]!, 2)} at start, ${fmt(loadAtEnd[0]!, 2)} at end${baselineDist ? `; baseline: ${baselineDist}` : ''}`,
);
console.log();
console.log('| variant | main thread CPU µs/req | added vs plain | process CPU µs/req (all threads) | added vs plain | other threads µs/req | rows written |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const run of runs) {
  const main = least(run.key, 'main');
  const all = least(run.key, 'process');
  const plus = (value: number) => (Number.isNaN(value) ? '' : `${value >= 0 ? '+' : ''}${fmt(value, 1)}`);
  const rows = samples.get(run.key)!.rows;
  console.log(
    `| ${run.label} | ${fmt(main, 1)} (${fmt(median(run.key, 'main'), 1)}) | ${plus(added(run.key, 'main'))} | ${fmt(all, 1)} (${fmt(median(run.key, 'process'), 1)}) | ${plus(added(run.key, 'process'))} | ${fmt(all - main, 1)} | ${run.variant === 'worker' || run.variant === 'in-process' ? fmt(rows) : ''} |`,
  );
}

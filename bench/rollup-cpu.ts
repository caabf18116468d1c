/**
 * Node-side CPU of building a batch's rollups (`rollupBatch`, what the writer
 * runs per batch before its upserts): process.cpuUsage() around 100,000
 * synthetic rows in writer-sized batches, spread over two hours, median of 7
 * runs. CPU time, not wall clock, so it is fair on a busy machine.
 * `node --import tsx bench/rollup-cpu.ts [--rows N] [--batch N] [--module PATH]` (after
 * `npm run build`); `--module` takes `rollupBatch` from another file, e.g. an
 * older version, to compare.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { syntheticLog } from './lib/synthetic-log.js';

const { values } = parseArgs({ options: { rows: { type: 'string' }, batch: { type: 'string' }, runs: { type: 'string' }, module: { type: 'string' } } });
const { rollupBatch } = (await import(
  values.module ? pathToFileURL(resolve(values.module)).href : '../dist/rollups/batch-rollup.js'
)) as typeof import('../dist/rollups/batch-rollup.js');
const total = Number(values.rows ?? 100_000);
const batch = Number(values.batch ?? 1_000);
const runs = Number(values.runs ?? 7);
const start = Date.now() - 2 * 3_600_000;
const rows = Array.from({ length: total }, (_, i) => syntheticLog(i, `node-${i % 3}`, new Date(start + Math.floor((i * 2 * 3_600_000) / total))));
const batches: (typeof rows)[] = [];
for (let i = 0; i < total; i += batch) batches.push(rows.slice(i, i + batch));

const perRowUs: number[] = [];
for (let run = 0; run < runs + 1; run++) {
  const before = process.cpuUsage();
  for (const b of batches) rollupBatch(b);
  const used = process.cpuUsage(before);
  if (run > 0) perRowUs.push((used.user + used.system) / total); // run 0 warms up the JIT
}
perRowUs.sort((a, b) => a - b);
console.log(
  `rollupBatch${values.module ? ` (${values.module})` : ''}: ${total} rows in batches of ${batch}: median ${perRowUs[Math.floor(runs / 2)]!.toFixed(3)} µs CPU per row (min ${perRowUs[0]!.toFixed(3)}, max ${perRowUs[runs - 1]!.toFixed(3)})`,
);

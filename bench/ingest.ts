import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { createPulse } from '../dist/create-pulse.js';
import type { RequestLog } from '../dist/schema/request-log.js';
import { backendCpuMs } from './lib/backend-cpu.js';
import { percentile } from './lib/percentiles.js';
import { syntheticLog } from './lib/synthetic-log.js';

export interface PipelineResult {
  rows: number;
  rowsPerSecond: number;
  /** Broadcast → commit latency percentiles (ms), sampled every 50th row. */
  p50Ms: number;
  p99Ms: number;
  /** RSS samples (MiB) every tenth of the run. */
  rssMiB: number[];
  dropped: number;
  /** CPU per row of this process (publishing, buffering, serialising) and of the writer's Postgres backends, µs. */
  nodeCpuUsPerRow: number;
  postgresCpuUsPerRow: number;
}

async function truncate(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('truncate pgpulse.request_logs');
  await client.end();
}

/**
 * Pushes `rows` logs through pubsub.publish → writer → Postgres. With
 * `ratePerSecond` the publisher is paced (latency figure); without, it runs as
 * fast as the writer absorbs, keeping at most `maxPending` rows buffered
 * (throughput figure). With `validated` each log goes through
 * `pubsub.broadcast` (zod parse) instead of `publish`.
 */
export async function benchPipeline(
  url: string,
  rows: number,
  options: { notify: boolean; validated?: boolean; ratePerSecond?: number; maxPending?: number },
): Promise<PipelineResult> {
  await truncate(url);
  const pulse = createPulse({ connectionString: url, notify: options.notify, maxBufferedRows: 1_000_000, nodeId: 'bench' });
  const writer = pulse.writer!;
  const publishedAt: number[] = [];
  const latencies: number[] = [];
  let committed = 0;
  writer.on('flushed', ({ rows: n }) => {
    const now = performance.now();
    for (let i = committed; i < committed + n; i++) if (i % 50 === 0) latencies.push(now - publishedAt[i / 50]!);
    committed += n;
  });
  const rss: number[] = [];
  const maxPending = options.maxPending ?? 50_000;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const tick = 10;
  const perTick = options.ratePerSecond ? Math.max(1, Math.round((options.ratePerSecond * tick) / 1000)) : 1_000;
  const template = syntheticLog(0);
  for (let i = 0; i < rows;) {
    const tickStart = performance.now();
    const end = Math.min(rows, i + perTick);
    for (; i < end; i++) {
      if (i % 50 === 0) publishedAt.push(performance.now());
      const log: RequestLog =
        i % 1000 === 0 ? syntheticLog(i) : { ...template, request_id: `r${i}`, path: `/users/${i % 10_000}`, duration_ms: 1 + (i % 97) * 0.37 };
      if (options.validated) pulse.pubsub.broadcast(log);
      else pulse.pubsub.publish(log);
    }
    if (i % Math.max(1, Math.floor(rows / 10)) < perTick) rss.push(process.memoryUsage().rss / 2 ** 20);
    if (options.ratePerSecond) {
      const wait = tick - (performance.now() - tickStart);
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    } else {
      await new Promise((r) => setImmediate(r));
      while (writer.stats.pending > maxPending) await new Promise((r) => setTimeout(r, 1));
    }
  }
  await pulse.flush();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const postgresCpuMs = await backendCpuMs(url);
  rss.push(process.memoryUsage().rss / 2 ** 20);
  const result: PipelineResult = {
    rows,
    rowsPerSecond: writer.stats.written / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    rssMiB: rss,
    dropped: writer.stats.dropped,
    nodeCpuUsPerRow: (cpu.user + cpu.system) / rows,
    postgresCpuUsPerRow: (postgresCpuMs * 1000) / rows,
  };
  await pulse.close();
  return result;
}

/** The columns a RequestLog carries, named by the log itself (so this bench follows the column list). */
const requestLogColumnNames = Object.keys(syntheticLog(0)) as (keyof RequestLog)[];
const columns = requestLogColumnNames.join(', ');
const values = (l: RequestLog) => requestLogColumnNames.map((name) => l[name]);

/** One INSERT per row from `clients` concurrent connections; rows/s. */
export async function benchInsertPerRow(url: string, rows: number, clients = 4): Promise<number> {
  await truncate(url);
  const pool = new pg.Pool({ connectionString: url, max: clients });
  const text = `insert into pgpulse.request_logs (${columns}) values (${requestLogColumnNames.map((_, i) => `$${i + 1}`).join(', ')})`;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < rows) await pool.query(text, values(syntheticLog(next++)));
    }),
  );
  const rate = rows / ((performance.now() - started) / 1000);
  await pool.end();
  return rate;
}

/** Multi-row VALUES inserts of `batch` rows (one parameter per column); rows/s. */
export async function benchMultiRowValues(url: string, rows: number, batch = 1_000): Promise<number> {
  await truncate(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  for (let i = 0; i < rows; i += batch) {
    const n = Math.min(batch, rows - i);
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (let k = 0; k < n; k++) {
      tuples.push(`(${requestLogColumnNames.map((_, c) => `$${k * requestLogColumnNames.length + c + 1}`).join(',')})`);
      params.push(...values(syntheticLog(i + k)));
    }
    await client.query(`insert into pgpulse.request_logs (${columns}) values ${tuples.join(',')}`, params);
  }
  const rate = rows / ((performance.now() - started) / 1000);
  await client.end();
  return rate;
}

const copyField = (v: unknown): string => {
  if (v === null || v === undefined) return '\\N';
  if (v instanceof Date) return v.toISOString();
  return (typeof v === 'string' ? v : JSON.stringify(v)).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
};

/** COPY FROM STDIN (pg-copy-streams), the practical ceiling; rows/s. */
export async function benchCopy(url: string, rows: number): Promise<number> {
  await truncate(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  const stream = client.query(copyFrom(`copy pgpulse.request_logs (${columns}) from stdin`));
  async function* lines() {
    let chunk = '';
    for (let i = 0; i < rows; i++) {
      chunk += `${values(syntheticLog(i)).map(copyField).join('\t')}\n`;
      if (chunk.length > 65_536) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(Readable.from(lines()), stream);
  const rate = rows / ((performance.now() - started) / 1000);
  await client.end();
  return rate;
}

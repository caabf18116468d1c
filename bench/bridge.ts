import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createPulse } from '../dist/create-pulse.js';
import { percentile } from './lib/percentiles.js';
import { syntheticLog } from './lib/synthetic-log.js';

export interface BridgeResult {
  label: string;
  /** Rows/s the publisher achieved. */
  rowsPerSecond: number;
  delivered: number;
  published: number;
  p50Ms: number;
  p99Ms: number;
}

const listenerScript = fileURLToPath(new URL('./bridge-listener.ts', import.meta.url));

/**
 * Broadcast → remote listener latency through the NOTIFY bridge at fixed
 * rates; the listener runs in another process. The writer uses `maxWaitMs`
 * 20 ms here (the default 100 ms adds up to 100 ms of batching delay).
 */
export async function benchBridge(url: string, rates: readonly number[], durationS: number): Promise<BridgeResult[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', listenerScript, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  while (!output.includes('ready')) await once(child.stdout, 'data');
  const results: BridgeResult[] = [];
  try {
    for (const rate of rates) {
      const pulse = createPulse({ connectionString: url, notify: true, maxWaitMs: 20, nodeId: 'bench-bridge' });
      const total = Math.round(rate * durationS);
      const tick = 10;
      const perTick = Math.max(1, Math.round((rate * tick) / 1000));
      const started = performance.now();
      const template = syntheticLog(0, 'bench-bridge');
      for (let i = 0; i < total;) {
        const tickStart = performance.now();
        for (const end = Math.min(total, i + perTick); i < end; i++) pulse.pubsub.publish({ ...template, request_id: `b${i}`, inserted_at: new Date() });
        await new Promise((r) => setTimeout(r, Math.max(0, tick - (performance.now() - tickStart))));
      }
      const achieved = total / ((performance.now() - started) / 1000);
      await pulse.flush();
      await pulse.close();
      await new Promise((r) => setTimeout(r, 1_000));
      output = '';
      child.stdin.write('report\n');
      while (!/report (.*)/.test(output)) await once(child.stdout, 'data');
      const report = JSON.parse(/report (.*)/.exec(output)![1]!) as { count: number; p50: number; p99: number };
      results.push({
        label: `pgpulse bridge @ ${rate.toLocaleString('en-US')}/s`,
        rowsPerSecond: achieved,
        delivered: report.count,
        published: total,
        p50Ms: report.p50,
        p99Ms: report.p99,
      });
    }
  } finally {
    child.kill('SIGTERM');
  }
  return results;
}

/** The naive way: one transaction with an INSERT and a NOTIFY per row, 4 clients, as fast as it goes. */
export async function benchNotifyPerRow(url: string, durationS: number): Promise<BridgeResult> {
  const listen = new pg.Client({ connectionString: url });
  await listen.connect();
  const latencies: number[] = [];
  listen.on('notification', (n) => latencies.push(Date.now() - Number(n.payload)));
  await listen.query('listen bench_per_row');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  let published = 0;
  const until = performance.now() + durationS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const client = await pool.connect();
      try {
        while (performance.now() < until) {
          const log = syntheticLog(published++);
          await client.query('begin');
          await client.query(
            'insert into pgpulse.request_logs (request_id, method, path, route, status_code, duration_ms, device_type, node_id, inserted_at) values ($1,$2,$3,$4,$5,$6,$7,$8,$9)',
            [log.request_id, log.method, log.path, log.route, log.status_code, log.duration_ms, log.device_type, log.node_id, log.inserted_at],
          );
          await client.query(`select pg_notify('bench_per_row', $1)`, [String(Date.now())]);
          await client.query('commit');
        }
      } finally {
        client.release();
      }
    }),
  );
  const rate = published / ((performance.now() - started) / 1000);
  await new Promise((r) => setTimeout(r, 500));
  await pool.end();
  await listen.end();
  return {
    label: 'one INSERT + NOTIFY per row (4 clients)',
    rowsPerSecond: rate,
    delivered: latencies.length,
    published,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

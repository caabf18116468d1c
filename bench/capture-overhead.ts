import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { percentile } from './lib/percentiles.js';

export const frameworks = ['node', 'express'] as const;
export const variants = ['plain', 'capture', 'pgpulse', 'pino'] as const;

export interface CaptureResult {
  framework: (typeof frameworks)[number];
  variant: (typeof variants)[number];
  /** Median requests/s of the rounds. */
  rps: number;
  /** Median of the rounds' p99 latency, ms. */
  p99Ms: number;
  /** Server process CPU time per request served (µs, incl. warm-up and the writer's final flush). */
  cpuUsPerRequest: number;
  /** Rows pgpulse wrote (pgpulse variant only). */
  rowsWritten?: number;
}

/** What the server child prints on SIGTERM. */
interface ServerStats {
  requests: number;
  cpuUs: number;
  writer: { written: number } | null;
}

const serverScript = fileURLToPath(new URL('./http-server.ts', import.meta.url));

async function runOnce(framework: string, variant: string, databaseUrl: string, durationS: number, warmupS: number): Promise<{ rps: number; p99: number; cpuUsPerRequest: number; rows?: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript, framework, variant, databaseUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  while (!/port (\d+)/.test(output)) await once(child.stdout, 'data');
  const port = Number(/port (\d+)/.exec(output)![1]);
  const path = framework === 'express' ? '/users/42' : '/';
  await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: 10, duration: warmupS }); // warm-up
  const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: 10, duration: durationS });
  child.kill('SIGTERM');
  await once(child, 'exit');
  const stats = JSON.parse(/stats (.*)/.exec(output)![1]!) as ServerStats;
  return { rps: result.requests.average, p99: result.latency.p99, cpuUsPerRequest: stats.cpuUs / stats.requests, rows: stats.writer?.written };
}

/**
 * Hello-world throughput and p99 under autocannon (10 connections), each
 * server in its own process. Variants alternate within each round so drift
 * hits all of them alike; each figure is the median of the rounds (other load
 * on a shared 2-core machine shows up as outliers, not as a shifted mean).
 */
export async function benchCaptureOverhead(databaseUrl: string, options: { durationS: number; warmupS: number; rounds: number }): Promise<CaptureResult[]> {
  const results: CaptureResult[] = [];
  for (const framework of frameworks) {
    const samples = new Map<string, { rps: number[]; p99: number[]; cpu: number[]; rows: number }>();
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const r = await runOnce(framework, variant, databaseUrl, options.durationS, options.warmupS);
        const s = samples.get(variant) ?? { rps: [], p99: [], cpu: [], rows: 0 };
        s.rps.push(r.rps);
        s.p99.push(r.p99);
        s.cpu.push(r.cpuUsPerRequest);
        s.rows += r.rows ?? 0;
        samples.set(variant, s);
      }
    }
    for (const variant of variants) {
      const s = samples.get(variant)!;
      results.push({ framework, variant, rps: percentile(s.rps, 50), p99Ms: percentile(s.p99, 50), cpuUsPerRequest: percentile(s.cpu, 50), ...(variant === 'pgpulse' ? { rowsWritten: s.rows } : {}) });
    }
  }
  return results;
}

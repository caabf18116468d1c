import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const frameworks = ['node', 'express'] as const;
export const variants = ['plain', 'capture', 'pgpulse', 'pino'] as const;

export interface CaptureResult {
  framework: (typeof frameworks)[number];
  variant: (typeof variants)[number];
  /** Mean requests/s over the rounds. */
  rps: number;
  /** Mean of the rounds' p99 latency, ms. */
  p99Ms: number;
  /** Rows pgpulse wrote (pgpulse variant only). */
  rowsWritten?: number;
}

const serverScript = fileURLToPath(new URL('./http-server.ts', import.meta.url));

async function runOnce(framework: string, variant: string, databaseUrl: string, durationS: number): Promise<{ rps: number; p99: number; rows?: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript, framework, variant, databaseUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  while (!/port (\d+)/.test(output)) await once(child.stdout, 'data');
  const port = Number(/port (\d+)/.exec(output)![1]);
  const path = framework === 'express' ? '/users/42' : '/';
  await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: 10, duration: 1 }); // warm-up
  const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: 10, duration: durationS });
  child.kill('SIGTERM');
  await once(child, 'exit');
  const stats = /stats (.*)/.exec(output)?.[1];
  const written = stats && stats !== 'null' ? (JSON.parse(stats) as { written: number }).written : undefined;
  return { rps: result.requests.average, p99: result.latency.p99, rows: written };
}

/**
 * Hello-world throughput and p99 under autocannon (10 connections), each
 * server in its own process. Variants alternate within each round so drift
 * hits all of them alike.
 */
export async function benchCaptureOverhead(databaseUrl: string, options: { durationS: number; rounds: number }): Promise<CaptureResult[]> {
  const results: CaptureResult[] = [];
  for (const framework of frameworks) {
    const samples = new Map<string, { rps: number[]; p99: number[]; rows: number }>();
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const r = await runOnce(framework, variant, databaseUrl, options.durationS);
        const s = samples.get(variant) ?? { rps: [], p99: [], rows: 0 };
        s.rps.push(r.rps);
        s.p99.push(r.p99);
        s.rows += r.rows ?? 0;
        samples.set(variant, s);
      }
    }
    for (const variant of variants) {
      const s = samples.get(variant)!;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      results.push({ framework, variant, rps: mean(s.rps), p99Ms: mean(s.p99), ...(variant === 'pgpulse' ? { rowsWritten: s.rows } : {}) });
    }
  }
  return results;
}

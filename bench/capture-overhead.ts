import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { percentile } from './lib/percentiles.js';

export const frameworks = ['node', 'express'] as const;
/** plain app, pino-http to /dev/null, pgpulse capture alone (store: false), pgpulse with the writer in its worker thread and on the event loop. */
export const variants = ['plain', 'pino', 'capture', 'worker', 'in-process'] as const;
export type Variant = (typeof variants)[number];

export interface CaptureResult {
  framework: (typeof frameworks)[number];
  variant: Variant;
  /** Median requests/s of the rounds. */
  rps: number;
  /** Median of the rounds' p99 latency, ms. */
  p99Ms: number;
  /** Whole-process CPU (all threads) per request served, µs (incl. warm-up and the writer's final flush). */
  cpuUsPerRequest: number;
  /** Main-thread (event loop) CPU per request, µs; NaN where /proc is missing. */
  mainCpuUsPerRequest: number;
  /** Median of the rounds' p99 event-loop delay, ms. */
  loopDelayP99Ms: number;
  /** Rows pgpulse wrote (writer variants only). */
  rowsWritten?: number;
  /** Where the writer ran (writer variants). */
  writerMode?: string;
}

/** What the server child prints on SIGTERM. */
export interface ServerStats {
  requests: number;
  cpuUs: number;
  mainCpuUs: number | null;
  loopDelayP99Ms: number;
  writer: { written: number } | null;
  writerMode: string | null;
}

const serverScript = fileURLToPath(new URL('./http-server.ts', import.meta.url));

/** A hello-world server child (`http-server.ts`) in one variant. */
export interface BenchServer {
  /** URL of its hello-world route. */
  url: string;
  /** Restarts its counters (after a warm-up); resolves once it did. */
  reset(): Promise<void>;
  /** SIGTERM: it flushes, exits and reports what it counted since listening or the last reset. */
  stop(): Promise<ServerStats>;
}

/**
 * Starts `http-server.ts` in its own process (`nodeArgs` go to its node, e.g.
 * `--cpu-prof`; `dist` is another build of pgpulse to load instead of
 * ../dist); resolves once it listens.
 */
export async function startBenchServer(
  framework: string,
  variant: string,
  databaseUrl: string,
  nodeArgs: readonly string[] = [],
  dist?: string,
): Promise<BenchServer> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', serverScript, framework, variant, databaseUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: dist ? { ...process.env, PGPULSE_BENCH_DIST: dist } : process.env,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const waitFor = async (pattern: RegExp, from: number): Promise<RegExpExecArray> => {
    for (;;) {
      const match = pattern.exec(output.slice(from));
      if (match) return match;
      if (child.exitCode !== null) throw new Error(`bench server ${framework}/${variant} exited (${child.exitCode}): ${output}`);
      await once(child.stdout, 'data');
    }
  };
  const port = Number((await waitFor(/port (\d+)/, 0))[1]);
  return {
    url: `http://127.0.0.1:${port}${framework === 'express' ? '/users/42' : '/'}`,
    async reset() {
      const from = output.length;
      child.kill('SIGUSR2');
      await waitFor(/^reset$/m, from);
    },
    async stop() {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(/stats (.*)/.exec(output)![1]!) as ServerStats;
    },
  };
}

interface Run {
  rps: number;
  p99: number;
  stats: ServerStats;
}

async function runOnce(framework: string, variant: string, databaseUrl: string, durationS: number, warmupS: number): Promise<Run> {
  const server = await startBenchServer(framework, variant, databaseUrl);
  await autocannon({ url: server.url, connections: 10, duration: warmupS }); // warm-up
  const result = await autocannon({ url: server.url, connections: 10, duration: durationS });
  const stats = await server.stop();
  return { rps: result.requests.average, p99: result.latency.p99, stats };
}

/**
 * Hello-world throughput, p99, CPU per request (main thread and whole
 * process) and event-loop delay under autocannon (10 connections), each
 * server in its own process. Variants alternate within each round so drift
 * hits all of them alike; each figure is the median of the rounds (other load
 * on a shared 2-core machine shows up as outliers, not as a shifted mean).
 */
export async function benchCaptureOverhead(databaseUrl: string, options: { durationS: number; warmupS: number; rounds: number }): Promise<CaptureResult[]> {
  const results: CaptureResult[] = [];
  for (const framework of frameworks) {
    const samples = new Map<string, { rps: number[]; p99: number[]; cpu: number[]; main: number[]; delay: number[]; rows: number; mode?: string }>();
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const r = await runOnce(framework, variant, databaseUrl, options.durationS, options.warmupS);
        const s = samples.get(variant) ?? { rps: [], p99: [], cpu: [], main: [], delay: [], rows: 0 };
        s.rps.push(r.rps);
        s.p99.push(r.p99);
        s.cpu.push(r.stats.cpuUs / r.stats.requests);
        s.main.push(r.stats.mainCpuUs === null ? Number.NaN : r.stats.mainCpuUs / r.stats.requests);
        s.delay.push(r.stats.loopDelayP99Ms);
        s.rows += r.stats.writer?.written ?? 0;
        s.mode = r.stats.writerMode ?? undefined;
        samples.set(variant, s);
      }
    }
    for (const variant of variants) {
      const s = samples.get(variant)!;
      results.push({
        framework,
        variant,
        rps: percentile(s.rps, 50),
        p99Ms: percentile(s.p99, 50),
        cpuUsPerRequest: percentile(s.cpu, 50),
        mainCpuUsPerRequest: s.main.some(Number.isNaN) ? Number.NaN : percentile(s.main, 50),
        loopDelayP99Ms: percentile(s.delay, 50),
        ...(variant === 'worker' || variant === 'in-process' ? { rowsWritten: s.rows, writerMode: s.mode } : {}),
      });
    }
  }
  return results;
}

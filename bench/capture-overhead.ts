import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { backendCpuMs } from './lib/backend-cpu.js';
import { percentile } from './lib/percentiles.js';

export const frameworks = ['node', 'express', 'fastify'] as const;
export type Framework = (typeof frameworks)[number];
/** The load generators: autocannon (in Node, this process) and wrk (C, Debian package `wrk`). */
export const loadTools = ['autocannon', 'wrk'] as const;
export type LoadTool = (typeof loadTools)[number];
/** plain app, pino-http to /dev/null, pgpulse capture alone (store: false), pgpulse with the writer in its worker thread and on the event loop. */
export const variants = ['plain', 'pino', 'capture', 'worker', 'in-process'] as const;
export type Variant = (typeof variants)[number];

export interface CaptureResult {
  framework: Framework;
  variant: Variant;
  tool: LoadTool;
  connections: number;
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
  /** Median CPU of the database's Postgres backends (the writer's pool) per request served, µs; NaN where /proc is missing. */
  postgresCpuUsPerRequest: number;
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
    url: `http://127.0.0.1:${port}${framework === 'node' ? '/' : '/users/42'}`,
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
  postgresCpuMs: number;
}

const run = promisify(execFile);

/** Whether wrk is installed (the bench says so and skips it where it is not). */
export async function wrkAvailable(): Promise<boolean> {
  try {
    // wrk --version prints its version and exits 1.
    await run('wrk', ['--version']).catch((error: unknown) => {
      if (!String((error as { stdout?: unknown }).stdout).includes('wrk')) throw error;
    });
    return true;
  } catch {
    return false;
  }
}

/** wrk's `Latency` units. */
const WRK_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

/** Requests/s and p99 (ms) of a wrk run (1 thread, `--latency`). */
async function wrkLoad(url: string, connections: number, durationS: number): Promise<{ rps: number; p99: number }> {
  const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(durationS))}s`, '--latency', url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout);
  if (!Number.isFinite(rps) || !p99) throw new Error(`unexpected wrk output:\n${stdout}`);
  return { rps, p99: Number(p99[1]) * WRK_UNITS[p99[2]!]! };
}

async function load(tool: LoadTool, url: string, connections: number, durationS: number): Promise<{ rps: number; p99: number }> {
  if (tool === 'wrk') return wrkLoad(url, connections, durationS);
  const result = await autocannon({ url, connections, duration: durationS });
  return { rps: result.requests.average, p99: result.latency.p99 };
}

async function runOnce(
  framework: Framework,
  variant: Variant,
  databaseUrl: string,
  shape: { tool: LoadTool; connections: number; durationS: number; warmupS: number },
): Promise<Run> {
  const server = await startBenchServer(framework, variant, databaseUrl);
  await load(shape.tool, server.url, shape.connections, shape.warmupS); // warm-up
  await server.reset();
  const postgresBefore = await backendCpuMs(databaseUrl);
  const result = await load(shape.tool, server.url, shape.connections, shape.durationS);
  // The writer commits every maxWaitMs: read the backends' CPU before the pool closes at stop.
  const postgresCpuMs = (await backendCpuMs(databaseUrl)) - postgresBefore;
  const stats = await server.stop();
  return { rps: result.rps, p99: result.p99, stats, postgresCpuMs };
}

/** What {@link benchCaptureOverhead} runs: every variant of every framework, under each tool and connection count. */
export interface CaptureOptions {
  durationS: number;
  warmupS: number;
  rounds: number;
  frameworks: readonly Framework[];
  tools: readonly LoadTool[];
  connections: readonly number[];
  /** Variants measured at every tool and connection count; the others only under autocannon at the first connection count. Default all. */
  everywhere?: readonly Variant[];
}

interface Samples {
  rps: number[];
  p99: number[];
  cpu: number[];
  main: number[];
  delay: number[];
  postgres: number[];
  rows: number;
  mode?: string;
}

/**
 * Hello-world throughput, p99, CPU per request (main thread, whole process
 * and the Postgres backends) and event-loop delay, each server in its own
 * process, under autocannon and wrk at each connection count. Variants
 * alternate within each round so drift hits all of them alike; each figure is
 * the median of the rounds (other load on a shared 2-core machine shows up as
 * outliers, not as a shifted mean). CPU counts from the end of the warm-up to
 * exit, so it includes the writer's final flush.
 */
export async function benchCaptureOverhead(databaseUrl: string, options: CaptureOptions): Promise<CaptureResult[]> {
  const results: CaptureResult[] = [];
  for (const framework of options.frameworks)
    for (const tool of options.tools)
      for (const connections of options.connections) {
        const first = tool === options.tools[0] && connections === options.connections[0];
        const measured = first ? variants : variants.filter((v) => (options.everywhere ?? variants).includes(v));
        const samples = new Map<Variant, Samples>();
        for (let round = 0; round < options.rounds; round++) {
          const order = round % 2 === 0 ? measured : [...measured].reverse();
          for (const variant of order) {
            const r = await runOnce(framework, variant, databaseUrl, { tool, connections, durationS: options.durationS, warmupS: options.warmupS });
            const s = samples.get(variant) ?? { rps: [], p99: [], cpu: [], main: [], delay: [], postgres: [], rows: 0 };
            s.rps.push(r.rps);
            s.p99.push(r.p99);
            s.cpu.push(r.stats.cpuUs / r.stats.requests);
            s.main.push(r.stats.mainCpuUs === null ? Number.NaN : r.stats.mainCpuUs / r.stats.requests);
            s.delay.push(r.stats.loopDelayP99Ms);
            s.postgres.push((r.postgresCpuMs * 1000) / r.stats.requests);
            s.rows += r.stats.writer?.written ?? 0;
            s.mode = r.stats.writerMode ?? undefined;
            samples.set(variant, s);
          }
        }
        for (const variant of measured) results.push(summarise(framework, variant, tool, connections, samples.get(variant)!));
      }
  return results;
}

function summarise(framework: Framework, variant: Variant, tool: LoadTool, connections: number, s: Samples): CaptureResult {
  const median = (values: number[]) => (values.some(Number.isNaN) ? Number.NaN : percentile(values, 50));
  return {
    framework,
    variant,
    tool,
    connections,
    rps: percentile(s.rps, 50),
    p99Ms: percentile(s.p99, 50),
    cpuUsPerRequest: percentile(s.cpu, 50),
    mainCpuUsPerRequest: median(s.main),
    loopDelayP99Ms: percentile(s.delay, 50),
    postgresCpuUsPerRequest: median(s.postgres),
    ...(variant === 'worker' || variant === 'in-process' ? { rowsWritten: s.rows, writerMode: s.mode } : {}),
  };
}

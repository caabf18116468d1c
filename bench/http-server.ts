/**
 * Child process for the capture-overhead bench: a hello-world server in one of
 * the variants. Usage: http-server.ts <node|express|fastify> <variant> [databaseUrl]
 * with variant plain | pino | capture (store: false) | worker (writer in its
 * worker thread) | in-process (writer on the event loop). On Fastify, `pino`
 * is Fastify's own request logging (pino, to /dev/null), its usual peer.
 * Prints `port <n>` when listening; on SIGUSR2 restarts its counters (after a
 * warm-up) and prints `reset`; on SIGTERM flushes and prints `stats <json>`:
 * requests served and, since it started listening or was last reset (so
 * including the writer's final flush): CPU of the whole process (all threads, `process.cpuUsage()`),
 * CPU of the main thread alone (the event loop, from /proc), and the p99 of
 * the event-loop delay (`monitorEventLoopDelay`, 1 ms resolution).
 * PGPULSE_BENCH_DIST=<dir> loads pgpulse from that `dist/` instead of ../dist.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import Fastify from 'fastify';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { pathToFileURL } from 'node:url';
import type { Pulse } from '../dist/create-pulse.js';
import { mainThreadCpuUs } from './lib/thread-cpu.js';

type Variant = 'plain' | 'pino' | 'capture' | 'worker' | 'in-process';
const [framework, variant, databaseUrl] = process.argv.slice(2) as ['node' | 'express' | 'fastify', Variant, string | undefined];

// PGPULSE_BENCH_DIST: another build of pgpulse (its dist/ directory), to compare two versions in one run.
const distEntry = process.env.PGPULSE_BENCH_DIST ? pathToFileURL(`${process.env.PGPULSE_BENCH_DIST}/create-pulse.js`).href : '../dist/create-pulse.js';
const { createPulse } = (await import(distEntry)) as typeof import('../dist/create-pulse.js');
const fastifyEntry = process.env.PGPULSE_BENCH_DIST
  ? pathToFileURL(`${process.env.PGPULSE_BENCH_DIST}/adapters/fastify.js`).href
  : '../dist/adapters/fastify.js';

let pulse: Pulse | undefined;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
let middleware: Middleware | undefined;
if (variant === 'capture' || variant === 'worker' || variant === 'in-process') {
  // `capture` measures the middleware alone (store: false), without the writer's Postgres work.
  pulse = createPulse({
    connectionString: databaseUrl!,
    nodeId: `bench-${framework}`,
    store: variant !== 'capture',
    maintenanceIntervalMs: 0,
    ...(variant === 'capture' ? {} : { writerMode: variant }),
  });
  middleware = pulse.middleware();
} else if (variant === 'pino' && framework !== 'fastify') {
  const logger = pinoHttp({ logger: pino(pino.destination({ dest: '/dev/null', sync: false })) });
  middleware = (req, res, next) => {
    logger(req, res);
    next();
  };
}

const hello = (_req: IncomingMessage, res: ServerResponse) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello world');
};

let listener: RequestListener;
if (framework === 'fastify') {
  listener = await fastifyListener();
} else if (framework === 'express') {
  const app = express();
  if (middleware) app.use(middleware);
  app.get('/users/:id', (_req, res) => void res.send('hello world'));
  listener = app;
} else {
  listener = middleware ? (req, res) => middleware(req, res, () => hello(req, res)) : hello;
}

/** A Fastify 5 app with the variant's logging or pgpulse plugin, as a node:http request listener. */
async function fastifyListener(): Promise<RequestListener> {
  let handler: RequestListener | undefined;
  const app = Fastify({
    logger: variant === 'pino' ? { level: 'info', stream: pino.destination({ dest: '/dev/null', sync: false }) } : false,
    serverFactory: (h) => {
      handler = h;
      return createServer();
    },
  });
  if (pulse) {
    const { pgpulseFastify } = (await import(fastifyEntry)) as typeof import('../dist/adapters/fastify.js');
    await app.register(pgpulseFastify(pulse));
  }
  app.get('/users/:id', async () => 'hello world');
  await app.ready();
  return handler!;
}

let requests = 0;
const counted: RequestListener = (req, res) => {
  requests++;
  listener(req, res);
};
const server = createServer(counted);
server.keepAliveTimeout = 60_000;
const delay = monitorEventLoopDelay({ resolution: 1 });
let cpuAtListen: NodeJS.CpuUsage | undefined;
let mainAtListen: number | undefined;
function startCounting(): void {
  requests = 0;
  cpuAtListen = process.cpuUsage();
  mainAtListen = mainThreadCpuUs();
  delay.reset();
  delay.enable();
}
async function onListening(): Promise<void> {
  // The writer worker is up before the clock starts (its start-up is not per-request work).
  await pulse?.flush();
  startCounting();
  console.log(`port ${(server.address() as AddressInfo).port}`);
}
process.on('SIGUSR2', () => {
  startCounting();
  console.log('reset');
});
server.listen(0, '127.0.0.1', () => void onListening());
async function shutdown(): Promise<void> {
  delay.disable();
  server.close();
  if (pulse) await pulse.close();
  const cpu = process.cpuUsage(cpuAtListen);
  const main = mainThreadCpuUs();
  const stats = {
    requests,
    cpuUs: cpu.user + cpu.system,
    mainCpuUs: main !== undefined && mainAtListen !== undefined ? main - mainAtListen : null,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    writer: pulse?.stats.writer ?? null,
    writerMode: pulse?.writer?.mode ?? null,
  };
  console.log(`stats ${JSON.stringify(stats)}`);
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());

/**
 * Child process for the capture-overhead bench: a hello-world server in one of
 * the variants. Usage: http-server.ts <node|express> <plain|pgpulse|pino> [databaseUrl]
 * Prints `port <n>` when listening; on SIGTERM flushes and prints `stats <json>`:
 * requests served, this process's CPU time since it started listening (µs,
 * including the writer's final flush) and the writer's counters.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { createPulse, type Pulse } from '../dist/create-pulse.js';

const [framework, variant, databaseUrl] = process.argv.slice(2) as ['node' | 'express', 'plain' | 'pgpulse' | 'capture' | 'pino', string | undefined];

let pulse: Pulse | undefined;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
let middleware: Middleware | undefined;
if (variant === 'pgpulse' || variant === 'capture') {
  // `capture` measures the middleware alone (store: false), without the writer's Postgres work.
  pulse = createPulse({ connectionString: databaseUrl!, nodeId: `bench-${framework}`, store: variant === 'pgpulse' });
  middleware = pulse.middleware() as Middleware;
} else if (variant === 'pino') {
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
if (framework === 'express') {
  const app = express();
  if (middleware) app.use(middleware);
  app.get('/users/:id', (_req, res) => void res.send('hello world'));
  listener = app;
} else {
  listener = middleware ? (req, res) => middleware!(req, res, () => hello(req, res)) : hello;
}

let requests = 0;
const counted: RequestListener = (req, res) => {
  requests++;
  listener(req, res);
};
const server = createServer(counted);
server.keepAliveTimeout = 60_000;
let cpuAtListen: NodeJS.CpuUsage | undefined;
server.listen(0, '127.0.0.1', () => {
  cpuAtListen = process.cpuUsage();
  console.log(`port ${(server.address() as AddressInfo).port}`);
});
process.once('SIGTERM', async () => {
  server.close();
  if (pulse) await pulse.close();
  const cpu = process.cpuUsage(cpuAtListen);
  console.log(`stats ${JSON.stringify({ requests, cpuUs: cpu.user + cpu.system, writer: pulse?.stats.writer ?? null })}`);
  process.exit(0);
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { NodeMiddleware } from '../capture/node-middleware.js';

/** Routes of the sample shop: pattern, matcher, and how slow and flaky it is. */
const routes = [
  { pattern: '/', match: /^\/$/, meanMs: 8, failRate: 0 },
  { pattern: '/products', match: /^\/products$/, meanMs: 25, failRate: 0.002 },
  { pattern: '/products/:id', match: /^\/products\/\d+$/, meanMs: 15, failRate: 0.005 },
  { pattern: '/users/:id', match: /^\/users\/\d+$/, meanMs: 12, failRate: 0.003 },
  { pattern: '/search', match: /^\/search$/, meanMs: 60, failRate: 0.01 },
  { pattern: '/cart', match: /^\/cart$/, meanMs: 20, failRate: 0.004 },
  { pattern: '/checkout', match: /^\/checkout$/, meanMs: 140, failRate: 0.05 },
  { pattern: '/api/orders/:id', match: /^\/api\/orders\/\d+$/, meanMs: 35, failRate: 0.02 },
] as const;

/** Log-normal-ish latency around `meanMs`, with a rare slow tail. */
function latency(meanMs: number): number {
  const u = Math.max(1e-9, Math.random());
  const v = Math.random();
  const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  const tail = Math.random() < 0.01 ? 8 : 1;
  return Math.min(5_000, meanMs * Math.exp(0.5 * normal) * tail);
}

/** What the sample app does with a path: its route pattern (null = 404), status and time taken. */
export interface SampleOutcome {
  route: string | null;
  statusCode: number;
  delayMs: number;
}

/** Decides, at random but per route, how the sample app answers `path` (no query string). */
export function sampleOutcome(path: string): SampleOutcome {
  const route = routes.find((r) => r.match.test(path));
  if (!route) return { route: null, statusCode: 404, delayMs: 0 };
  return { route: route.pattern, statusCode: Math.random() < route.failRate ? 500 : 200, delayMs: latency(route.meanMs) };
}

/** What broke behind a 5xx of each flaky route, as an app would throw it (the Errors panel groups them). */
const failures: Record<string, () => Error> = {
  '/checkout': () => Object.assign(new Error('payment gateway timed out after 3000 ms'), { name: 'GatewayTimeoutError' }),
  '/search': () => new RangeError('search index shard 3 is unavailable'),
  '/api/orders/:id': () => new TypeError("Cannot read properties of undefined (reading 'total')"),
};

/** Called with the exception behind each 5xx (the demo passes `pulse.captureError`). */
export type SampleErrorReporter = (error: Error, req: IncomingMessage) => void;

function handle(req: IncomingMessage, res: ServerResponse, reportError: SampleErrorReporter | undefined): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const outcome = sampleOutcome(path);
  if (outcome.route === null) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    return;
  }
  // Tell pgpulse the route pattern, as Express does with req.route.
  const route = outcome.route;
  (req as IncomingMessage & { route?: { path: string } }).route = { path: route };
  setTimeout(() => {
    if (outcome.statusCode === 500) {
      reportError?.(failures[route]?.() ?? new Error(`${route} failed`), req);
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
      return;
    }
    const body = JSON.stringify({
      route: outcome.route,
      path,
      at: new Date().toISOString(),
      items: Array.from({ length: Math.floor(Math.random() * 20) }, (_, i) => i),
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }, outcome.delayMs).unref();
}

/** A small shop API instrumented with the given middleware; `reportError` gets the exception behind each 5xx. */
export function createSampleApp(middleware: NodeMiddleware, reportError?: SampleErrorReporter): Server {
  return createServer((req, res) => middleware(req, res, () => handle(req, res, reportError)));
}

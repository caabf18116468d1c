/**
 * Capture for Connect/Express and bare node:http. Hand-written because it is
 * the hot path of every request of the app: per request it allocates one
 * {@link TrackedResponse} (timestamps and references only), swaps `write`/`end`
 * for shared counting functions and adds one shared `close` listener. No
 * closure, `Date`, hashing, parsing or string building happens here; the
 * recorder derives the RequestLog in a batch off the request path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeferredRequest, FinishedRequest, Recorder } from './recorder.js';

/** Connect/Express-style middleware; `next` is optional so it also wraps bare node:http handlers. */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** Express adds these to the request; other frameworks may too. */
interface RoutedRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
}

/** Route pattern Express matched, with the router's mount path; null when none. */
export function expressRoute(req: RoutedRequest): string | null {
  return joinRoute(req.baseUrl, req.route?.path);
}

function joinRoute(baseUrl: string | undefined, path: unknown): string | null {
  if (path === undefined || path === null) return null;
  const pattern = typeof path === 'string' ? path : String(path);
  return (baseUrl ?? '') + pattern;
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

const tracked = Symbol('pgpulse.tracked');

interface TrackedServerResponse extends ServerResponse {
  [tracked]?: TrackedResponse;
}

type Write = (...args: unknown[]) => boolean;
type End = (...args: unknown[]) => ServerResponse;

/**
 * The state of one request between its start and the recorder's next batch:
 * `performance.now()` timestamps and references to what the batch derives the
 * log from.
 */
class TrackedResponse implements DeferredRequest {
  bytes = 0;
  /** `req.route.path` and `req.baseUrl` when the response ended (while the router still knows them). */
  routePath: unknown = undefined;
  baseUrl: string | undefined = undefined;
  finishedAt = 0;
  statusCode = 0;
  done = false;

  constructor(
    readonly recorder: Recorder,
    readonly req: RoutedRequest,
    readonly url: string | undefined,
    readonly remoteAddress: string | undefined,
    readonly startMs: number,
    readonly write: Write,
    readonly end: End,
  ) {}

  toFinishedRequest(): FinishedRequest {
    const req = this.req;
    const headers = req.headers;
    return {
      method: req.method,
      url: this.url,
      route: this.routePath === undefined ? expressRoute(req) : joinRoute(this.baseUrl, this.routePath),
      statusCode: this.statusCode,
      startMs: this.startMs,
      durationMs: this.finishedAt - this.startMs,
      responseBytes: this.bytes,
      userAgent: headers['user-agent'],
      referer: headers.referer ?? headers.referrer,
      requestId: headers['x-request-id'],
      forwardedFor: headers['x-forwarded-for'],
      remoteAddress: this.remoteAddress,
    };
  }
}

// Shared by every response: the request's state hangs off the response, so no closure is allocated per request.
function countingWrite(this: TrackedServerResponse, chunk: unknown, encoding?: unknown): boolean {
  const state = this[tracked]!;
  state.bytes += byteLength(chunk, encoding);
  // eslint-disable-next-line prefer-rest-params
  return state.write.apply(this, arguments as unknown as unknown[]);
}

function countingEnd(this: TrackedServerResponse, chunk?: unknown, encoding?: unknown): ServerResponse {
  const state = this[tracked]!;
  if (typeof chunk !== 'function') state.bytes += byteLength(chunk, encoding);
  const route = state.req.route;
  if (route) {
    state.routePath = route.path;
    state.baseUrl = state.req.baseUrl;
  }
  // eslint-disable-next-line prefer-rest-params
  return state.end.apply(this, arguments as unknown as unknown[]);
}

/** `close` fires once the response finished (after `finish`) or the client went away first (499). */
function onClose(this: TrackedServerResponse): void {
  const state = this[tracked];
  if (!state || state.done) return;
  state.done = true;
  state.finishedAt = performance.now();
  state.statusCode = this.writableFinished ? this.statusCode : 499;
  state.recorder.defer(state);
}

/**
 * Measures one request: start time from `performance.now()`, body bytes by
 * counting writes, route when the response ends, and hands it to the recorder
 * once the response closed (finished, or status 499 when the client went away
 * first). Adds no awaited work to the request.
 */
export function trackResponse(recorder: Recorder, req: RoutedRequest, res: ServerResponse): void {
  const response = res as TrackedServerResponse;
  if (response[tracked]) return; // mounted twice
  response[tracked] = new TrackedResponse(recorder, req, req.originalUrl ?? req.url, req.socket?.remoteAddress, performance.now(), res.write as Write, res.end as End);
  res.write = countingWrite as ServerResponse['write'];
  res.end = countingEnd as ServerResponse['end'];
  res.on('close', onClose);
}

/** Builds the middleware for a recorder. */
export function createNodeMiddleware(recorder: Recorder): NodeMiddleware {
  return (req, res, next) => {
    try {
      trackResponse(recorder, req, res);
    } catch {
      recorder.failures++;
    }
    next?.();
  };
}

/**
 * Capture at the node:http level, shared by Connect/Express, bare node:http,
 * Fastify and Hono on `@hono/node-server` (so every adapter gives the same row
 * for the same request). Hand-written because it is the hot path of every
 * request of the app: per request it allocates one {@link TrackedResponse}
 * (timestamps and references only, including the active OpenTelemetry span
 * when `@opentelemetry/api` is installed), swaps `write`/`end` for shared counting
 * functions and adds one shared `close` listener. No closure, `Date`, hashing,
 * parsing or string building happens here; the framework facts (route, id,
 * proxy trust) are read through a shared {@link FrameworkReader} when the
 * recorder derives the RequestLog in a batch off the request path.
 */
import { captureSkipped } from '../skip-capture.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CapturedRequest } from './captured-request.js';
import type { DeferredRequest } from './recorder.js';
import { activeSpan, type SpanLike } from './trace-context.js';
import type { TrustFunction } from './trust-proxy.js';

/** Connect/Express-style middleware; `next` is optional so it also wraps bare node:http handlers. */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** Where tracked requests go when their response closed. */
export interface DeferSink {
  defer(request: DeferredRequest): void;
}

/** Express adds these to the request; other frameworks may too. */
interface RoutedRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  app?: { get?: (setting: string) => unknown };
}

/** What the recorder's batch knows of a tracked request when it asks the framework. */
export interface TrackedRequestView {
  readonly req: IncomingMessage;
  /** `req.route.path` (Express) when the response ended, while the router still knew it. */
  readonly routePath: unknown;
  /** `req.baseUrl` (Express) when the response ended. */
  readonly baseUrl: string | undefined;
}

/**
 * How the framework around a node:http response is read, once per request, in
 * the recorder's batch (one shared object per framework; `source` is the
 * framework's request or context object).
 */
export interface FrameworkReader<Source = unknown> {
  /** Route pattern the framework matched (`/users/:id`), or null. */
  route(source: Source, view: TrackedRequestView): string | null | undefined;
  /** The framework's request id, if it has one worth storing. */
  requestId(source: Source, view: TrackedRequestView): string | undefined;
  /** Client address the framework resolved itself (Fastify `request.ip`). */
  ip?(source: Source, view: TrackedRequestView): string | undefined;
  /** The framework's proxy trust for `X-Forwarded-For` (Express `trust proxy fn`); default pgpulse's `trustProxy`. */
  trust?(source: Source, view: TrackedRequestView): TrustFunction | undefined;
}

/** Route pattern Express matched, with the router's mount path; null when none. */
export function expressRoute(req: RoutedRequest): string | null {
  return joinRoute(req.baseUrl, req.route?.path);
}

function joinRoute(baseUrl: string | undefined, path: unknown): string | null {
  if (path === undefined || path === null) return null;
  // Express route paths are strings, RegExps or arrays of them; their String() form is what gets stored.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  const pattern = typeof path === 'string' ? path : String(path);
  return (baseUrl ?? '') + pattern;
}

function idString(id: unknown): string | undefined {
  return typeof id === 'string' && id !== '' ? id : typeof id === 'number' ? String(id) : undefined;
}

/** Express/Connect and bare node:http: `req.route`, `req.id` (request-id middlewares) and `app.set('trust proxy', …)`. */
export const expressReader: FrameworkReader = {
  route: (_source, view) => (view.routePath === undefined ? expressRoute(view.req) : joinRoute(view.baseUrl, view.routePath)),
  requestId: (_source, view) => idString((view.req as { id?: unknown }).id),
  trust: (_source, view) => {
    const app = (view.req as RoutedRequest).app;
    const trust = typeof app?.get === 'function' ? app.get('trust proxy fn') : undefined;
    return typeof trust === 'function' ? (trust as TrustFunction) : undefined;
  },
};

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

const tracked = Symbol('pgpulse.tracked');

interface TrackedServerResponse extends ServerResponse {
  [tracked]?: TrackedResponse;
}

interface TrackedIncomingMessage extends IncomingMessage {
  [tracked]?: TrackedResponse;
}

/** No error attached (an app may throw `undefined`). */
const NO_ERROR = Symbol('pgpulse.noError');

type Write = (...args: unknown[]) => boolean;
type End = (...args: unknown[]) => ServerResponse;

/**
 * The state of one request between its start and the recorder's next batch:
 * `performance.now()` timestamps and references to what the batch derives the
 * log from.
 */
class TrackedResponse implements DeferredRequest, TrackedRequestView {
  bytes = 0;
  /** `bytes` when the response closed (a handler may still write to a response whose client went away). */
  bytesAtClose = 0;
  routePath: unknown = undefined;
  baseUrl: string | undefined = undefined;
  finishedAt = 0;
  statusCode = 0;
  done = false;
  /** Its log was derived: an error attached now is too late. */
  derived = false;
  /** The exception behind the response (first attached wins). */
  error: unknown = NO_ERROR;
  errorReported = false;

  constructor(
    readonly sink: DeferSink,
    readonly req: RoutedRequest,
    readonly url: string | undefined,
    readonly remoteAddress: string | undefined,
    readonly startMs: number,
    readonly write: Write,
    readonly end: End,
    readonly reader: FrameworkReader,
    readonly source: unknown,
    /** The OpenTelemetry span active when the request started (the server span of an instrumented app). */
    readonly span: SpanLike | undefined,
    readonly res: ServerResponse,
  ) {}

  toCapturedRequest(): CapturedRequest {
    const req = this.req;
    const reader = this.reader;
    this.derived = true;
    return {
      method: req.method,
      url: this.url,
      route: reader.route(this.source, this),
      statusCode: this.statusCode,
      startMs: this.startMs,
      durationMs: this.finishedAt - this.startMs,
      // A HEAD response carries no body, whatever the handler wrote.
      responseBytes: req.method === 'HEAD' ? 0 : this.bytesAtClose,
      headers: req.headers,
      remoteAddress: this.remoteAddress,
      trust: reader.trust?.(this.source, this),
      ip: reader.ip?.(this.source, this),
      requestId: reader.requestId(this.source, this),
      span: this.span,
      http: { req, res: this.res },
      ...(this.error === NO_ERROR ? {} : { error: this.error, errorReported: this.errorReported }),
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
  if (captureSkipped(state.req)) return; // served by the dashboard (skipCapture), whatever the mount order
  state.finishedAt = performance.now();
  state.statusCode = this.writableFinished ? this.statusCode : 499;
  state.bytesAtClose = state.bytes;
  state.sink.defer(state);
}

/**
 * Measures one request: start time from `performance.now()`, body bytes by
 * counting writes, route when the response ends, and hands it to the recorder
 * once the response closed (finished, or status 499 when the client went away
 * first). Adds no awaited work to the request. `reader` and `source` tell the
 * batch how to read the framework (default Express/Connect); `remoteAddress`
 * defaults to the socket's peer, read now because a destroyed socket no longer
 * reports it.
 */
export function trackResponse(
  sink: DeferSink,
  req: IncomingMessage,
  res: ServerResponse,
  reader: FrameworkReader = expressReader,
  source?: unknown,
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- request-like objects of test harnesses may carry no socket
  remoteAddress: string | undefined = req.socket?.remoteAddress,
): void {
  const response = res as TrackedServerResponse;
  if (response[tracked]) return; // mounted twice
  const routed = req as RoutedRequest;
  response[tracked] = new TrackedResponse(
    sink,
    routed,
    routed.originalUrl ?? req.url,
    remoteAddress,
    performance.now(),
    // The originals, called later with `.call(res, …)`.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    res.write as Write,
    // eslint-disable-next-line @typescript-eslint/unbound-method
    res.end as End,
    reader,
    source,
    activeSpan(),
    res,
  );
  (req as TrackedIncomingMessage)[tracked] = response[tracked];
  res.write = countingWrite as ServerResponse['write'];
  res.end = countingEnd as ServerResponse['end'];
  res.on('close', onClose);
}

/** What an error is attached to: a tracked node:http request or response. */
export type ErrorTarget = IncomingMessage | ServerResponse;

/**
 * Attaches the exception behind a tracked request's response, read in the
 * capture batch. The first error attached wins. Answers `'attached'`, `'late'`
 * (the request was already recorded), `'untracked'` (not captured by pgpulse:
 * ignored, or no middleware ran) or `'duplicate'` (it already has an error).
 * `reported`: store it whatever the status (else only behind a 5xx).
 */
export function attachError(target: ErrorTarget, error: unknown, reported: boolean): 'attached' | 'late' | 'untracked' | 'duplicate' {
  const state = (target as TrackedServerResponse | TrackedIncomingMessage)[tracked];
  if (!state) return 'untracked';
  if (state.derived) return 'late';
  if (state.error !== NO_ERROR) {
    // The app reporting the error a hook already saw makes it a reported one.
    if (state.error === error && reported) state.errorReported = true;
    return 'duplicate';
  }
  state.error = error;
  state.errorReported = reported;
  return 'attached';
}

/** Builds the node:http/Express middleware. */
export function createNodeMiddleware(sink: DeferSink, onFailure: (error: unknown) => void = () => undefined): NodeMiddleware {
  return (req, res, next) => {
    try {
      trackResponse(sink, req, res);
    } catch (error) {
      onFailure(error);
    }
    next?.();
  };
}

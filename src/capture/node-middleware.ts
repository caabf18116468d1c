import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Recorder } from './recorder.js';

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
  const path = req.route?.path;
  if (path === undefined || path === null) return null;
  const pattern = typeof path === 'string' ? path : String(path);
  return (req.baseUrl ?? '') + pattern;
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * Measures one request: start time from `process.hrtime`, body bytes by
 * counting writes, route when the response ends (while the router still knows
 * it), and records it once the response has finished, or with status 499 when
 * the client went away first. Adds no awaited work to the request.
 */
export function trackResponse(recorder: Recorder, req: RoutedRequest, res: ServerResponse): void {
  const startedAt = new Date();
  const start = process.hrtime.bigint();
  let bytes = 0;
  let route: string | null = null;
  let done = false;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    bytes += byteLength(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') bytes += byteLength(chunk, rest[0]);
    route = expressRoute(req);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
  const finish = () => {
    if (done) return;
    done = true;
    res.off('finish', finish);
    res.off('close', finish);
    const headers = req.headers;
    recorder.record({
      method: req.method,
      url: req.originalUrl ?? req.url,
      route: route ?? expressRoute(req),
      statusCode: res.writableFinished ? res.statusCode : 499,
      startedAt,
      durationMs: Number(process.hrtime.bigint() - start) / 1e6,
      responseBytes: bytes,
      userAgent: headers['user-agent'],
      referer: headers.referer ?? headers.referrer,
      requestId: headers['x-request-id'],
      forwardedFor: headers['x-forwarded-for'],
      remoteAddress: req.socket?.remoteAddress,
    });
  };
  res.once('finish', finish);
  res.once('close', finish);
}

/** Builds the middleware for a recorder. */
export function createNodeMiddleware(recorder: Recorder): NodeMiddleware {
  return (req, res, next) => {
    try {
      if (!recorder.ignores((req as RoutedRequest).originalUrl ?? req.url)) trackResponse(recorder, req, res);
    } catch {
      recorder.failures++;
    }
    next?.();
  };
}

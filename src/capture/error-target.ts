import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorTarget } from './node-middleware.js';

/** What `pulse.captureError` takes as the request: node:http's request or response (Express's too), a Fastify request (`.raw`) or a Hono context (`.env.incoming`). */
export type ErrorSource = IncomingMessage | ServerResponse | { raw: IncomingMessage } | { env: unknown };

/** Options of `pulse.captureError`. */
export interface CaptureErrorOptions {
  /** Store the error only when the response is a 5xx (what the framework hooks do). Default false: stored whatever the status. */
  ifServerError?: boolean;
}

/** The node:http object a source stands for, or undefined. */
export function errorTargetOf(source: unknown): ErrorTarget | undefined {
  // Checked at runtime: JavaScript callers get no type check.
  if (typeof source !== 'object' || source === null) return undefined;
  if ('raw' in source && typeof source.raw === 'object' && source.raw !== null) return source.raw as IncomingMessage;
  if ('env' in source) {
    const incoming = (source.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    return typeof incoming === 'object' ? incoming : undefined;
  }
  return source as ErrorTarget;
}

/** Answers a request whose handler failed: 500 when nothing was sent yet, else the response is ended as it is. Never throws. */
export function serveFailedHandler(res: ServerResponse): void {
  try {
    if (res.writableEnded) return;
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end('Internal Server Error');
    } else res.end();
  } catch {
    res.destroy();
  }
}

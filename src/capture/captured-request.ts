import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AttributesInput } from './attributes.js';
import type { ConsumerInput } from './consumer.js';
import type { SpanLike } from './trace-context.js';
import type { TrustFunction } from './trust-proxy.js';

/**
 * What an adapter hands to pgpulse for one finished request: plain values and
 * references taken on the request path, nothing derived. Visitor id, session,
 * device/browser/OS, country, sanitised text and fallback ids are computed
 * later from it, in batches, by `deriveLog()`. Adapters for other frameworks build one
 * and pass it to `pulse.record()`.
 */
export interface CapturedRequest {
  /** Request method as received. */
  method: string | undefined;
  /** Request target as received (path and query), e.g. Express's `req.originalUrl`. */
  url: string | undefined;
  /** Route pattern the framework matched (`/users/:id`); null or undefined when none. */
  route: string | null | undefined;
  /** Status sent, or 499 when the client went away before the response finished. */
  statusCode: number;
  /** `performance.now()` when the request started; the batch turns it into the wall-clock `inserted_at`. */
  startMs: number;
  /** Time from start to the response's end, in milliseconds. */
  durationMs: number;
  /** Body bytes written (0 for HEAD); null when unknown. */
  responseBytes: number | null;
  /** The request's headers (a reference; lower-case names as in node:http). */
  headers: IncomingHttpHeaders;
  /** The socket peer's address, read while the socket was open. */
  remoteAddress: string | undefined;
  /**
   * The framework's own proxy trust (Express's compiled `trust proxy fn`),
   * used instead of pgpulse's `trustProxy` to walk `X-Forwarded-For`.
   */
  trust?: TrustFunction | undefined;
  /** Client address the framework already resolved (Fastify's `request.ip`); wins over `remoteAddress`. */
  ip?: string | undefined;
  /** The framework's request id (Fastify `request.id`, Express `req.id`, Hono `requestId`); wins over the header. */
  requestId?: string | undefined;
  /**
   * The OpenTelemetry span active while the request was handled
   * (`trace.getActiveSpan()`); when its context is valid, its trace and span
   * ids are stored instead of the `traceparent` header's. `pulse.record()`
   * reads the active span itself when this is undefined.
   */
  span?: SpanLike | undefined;
  /**
   * Custom attributes the adapter computed itself (validated and bounded like
   * those of the `attributes` option, which is then not called).
   */
  attributes?: AttributesInput;
  /**
   * The consumer the adapter knows itself (validated and bounded like the
   * `consumer` option's answer, which is then not called).
   */
  consumer?: ConsumerInput;
  /**
   * The exception behind the response (a framework's error hook, `wrap`, or
   * `pulse.captureError`); its details are read in the capture batch.
   */
  error?: unknown;
  /**
   * Store `error` whatever the status (the app reported it with
   * `pulse.captureError`); otherwise only when the status is 5xx.
   */
  errorReported?: boolean;
  /** The node:http request and response, for the `attributes` and `consumer` options (the node:http-level adapters set them). */
  http?: { req: IncomingMessage; res: ServerResponse } | undefined;
}

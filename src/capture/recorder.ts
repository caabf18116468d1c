import { randomUUID } from 'node:crypto';
import type { PubSub } from '../pubsub.js';
import { MAX_TEXT_LENGTH, type RequestLog } from '../request-log.js';
import { clientIp } from './client-ip.js';
import { detectDeviceType } from './device-type.js';
import { pathOf, sanitizeText } from './sanitize.js';
import type { Sessions } from './sessions.js';
import type { VisitorIds } from './visitor-ids.js';

/** A path filter: exact path, regular expression, or predicate on the path. */
export type IgnoreRule = string | RegExp | ((path: string) => boolean);

/** Static assets and common health checks: not recorded unless `ignore` is overridden. */
export const defaultIgnore: readonly IgnoreRule[] = [
  /\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|eot)$/i,
  '/favicon.ico',
  '/robots.txt',
  '/health',
  '/healthz',
  '/livez',
  '/readyz',
];

export interface CaptureOptions {
  /** Paths not recorded. Default {@link defaultIgnore} (static assets, health checks). Pass `[]` to record everything. */
  ignore?: readonly IgnoreRule[];
  /** Whether `X-Forwarded-For` decides the client IP. Enable only behind your own proxy. Default false. */
  trustProxy?: boolean;
  /** Store the raw client IP in the `ip` column. Default false (only the daily-salted visitor id is stored). */
  storeIp?: boolean;
  /** Longest user agent, referer or path stored, in characters; longer ones are cut. Default 65,536. */
  maxTextLength?: number;
}

/** What an adapter knows about a finished request. */
export interface FinishedRequest {
  method: string | undefined;
  url: string | undefined;
  route: string | null | undefined;
  statusCode: number;
  /** `performance.now()` when the request started; the batch turns it into wall-clock `inserted_at`. */
  startMs: number;
  durationMs: number;
  responseBytes: number | null;
  userAgent: string | string[] | undefined | null;
  referer: string | string[] | undefined | null;
  requestId: string | string[] | undefined | null;
  forwardedFor: string | string[] | undefined | null;
  remoteAddress: string | undefined | null;
}

/** A finished request whose fields are read only when its batch is derived (the node:http middleware's state). */
export interface DeferredRequest {
  toFinishedRequest(): FinishedRequest;
}

/** Requests derived per turn of the event loop; more wait for the next turn, so one batch never blocks the loop for long. */
const MAX_BATCH = 2_048;

/**
 * Turns finished requests into RequestLogs and broadcasts them. Shared by the
 * node:http/Express middleware and the Fastify and Hono adapters.
 *
 * The request path only appends to a buffer ({@link Recorder.record},
 * {@link Recorder.defer}); the derived fields (ignore rules, sanitising, visitor
 * hash, session, device, ids, wall-clock time) are computed in batches in a
 * `setImmediate` after the I/O of the current loop turn, before the logs are
 * published, so subscribers always receive complete RequestLogs.
 */
export class Recorder {
  private readonly ignore: readonly IgnoreRule[];
  private readonly trustProxy: boolean;
  private readonly storeIp: boolean;
  private readonly maxTextLength: number;
  /** Requests that could not be recorded (a bug or impossible input); never thrown at the app. */
  failures = 0;
  private pending: (FinishedRequest | DeferredRequest)[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly drainBatch = () => {
    this.scheduled = undefined;
    this.derive(MAX_BATCH);
  };

  constructor(
    private readonly pubsub: PubSub,
    private readonly visitorIds: VisitorIds,
    private readonly sessions: Sessions,
    private readonly nodeId: string,
    options: CaptureOptions = {},
  ) {
    this.ignore = options.ignore ?? defaultIgnore;
    this.trustProxy = options.trustProxy ?? false;
    this.storeIp = options.storeIp ?? false;
    this.maxTextLength = Math.min(options.maxTextLength ?? MAX_TEXT_LENGTH, MAX_TEXT_LENGTH);
  }

  /** Whether a request URL is excluded by the `ignore` rules. */
  ignores(url: string | undefined): boolean {
    if (this.ignore.length === 0) return false;
    const path = pathOf(url, this.maxTextLength);
    for (const rule of this.ignore) {
      if (typeof rule === 'string' ? rule === path : typeof rule === 'function' ? rule(path) : rule.test(path)) return true;
    }
    return false;
  }

  /** Queues a finished request; its log is derived and broadcast in the next batch. Never throws. */
  record(request: FinishedRequest): void {
    this.defer(request);
  }

  /** Queues a request whose fields are read in the next batch. Never throws. */
  defer(request: FinishedRequest | DeferredRequest): void {
    this.pending.push(request);
    this.scheduled ??= setImmediate(this.drainBatch);
  }

  /** Derives and broadcasts everything queued so far, now (used by `flush()` and `close()`). */
  drain(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.derive(Number.POSITIVE_INFINITY);
  }

  /** Requests queued and not yet broadcast. */
  get queued(): number {
    return this.pending.length;
  }

  private derive(limit: number): void {
    let batch = this.pending;
    if (batch.length > limit) {
      this.pending = batch.slice(limit);
      batch = batch.slice(0, limit);
      this.scheduled = setImmediate(this.drainBatch);
    } else {
      this.pending = [];
    }
    // One clock reading per batch: wall-clock start = now - (monotonic now - monotonic start).
    const wallNow = Date.now();
    const monotonicNow = performance.now();
    for (const item of batch) {
      try {
        const request = 'toFinishedRequest' in item ? item.toFinishedRequest() : item;
        if (this.ignores(request.url)) continue;
        this.pubsub.publish(this.toLog(request, new Date(wallNow - (monotonicNow - request.startMs))));
      } catch {
        this.failures++;
      }
    }
  }

  /** Builds the RequestLog of a finished request (sanitised, within the schema's limits). */
  toLog(request: FinishedRequest, startedAt: Date): RequestLog {
    const max = this.maxTextLength;
    const userAgent = sanitizeText(request.userAgent, max);
    const ip = clientIp(request.forwardedFor, request.remoteAddress, this.trustProxy);
    const visitorId = this.visitorIds.hash(ip, userAgent, startedAt);
    const statusCode = Number.isInteger(request.statusCode) && request.statusCode >= 100 && request.statusCode <= 999 ? request.statusCode : 500;
    return {
      request_id: sanitizeText(request.requestId, 200) || randomUUID(),
      method: sanitizeText(request.method, 32) || 'GET',
      path: pathOf(request.url, max),
      route: sanitizeText(request.route, 2048),
      status_code: statusCode,
      duration_ms: Math.max(0, request.durationMs),
      response_bytes: request.responseBytes,
      user_agent: userAgent,
      referer: sanitizeText(request.referer, max),
      device_type: detectDeviceType(userAgent),
      visitor_id: visitorId,
      session_id: this.sessions.sessionFor(visitorId, startedAt.getTime()),
      node_id: this.nodeId,
      ip: this.storeIp ? ip : null,
      inserted_at: startedAt,
    };
  }
}

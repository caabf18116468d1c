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
  startedAt: Date;
  durationMs: number;
  responseBytes: number | null;
  userAgent: string | string[] | undefined | null;
  referer: string | string[] | undefined | null;
  requestId: string | string[] | undefined | null;
  forwardedFor: string | string[] | undefined | null;
  remoteAddress: string | undefined | null;
}

/**
 * Turns finished requests into RequestLogs and broadcasts them. Shared by the
 * node:http/Express middleware and the Fastify and Hono adapters.
 */
export class Recorder {
  private readonly ignore: readonly IgnoreRule[];
  private readonly trustProxy: boolean;
  private readonly storeIp: boolean;
  private readonly maxTextLength: number;
  /** Requests that could not be recorded (a bug or impossible input); never thrown at the app. */
  failures = 0;

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

  /** Builds and broadcasts the log of a finished request. Never throws. */
  record(request: FinishedRequest): void {
    try {
      this.pubsub.publish(this.toLog(request));
    } catch {
      this.failures++;
    }
  }

  /** Builds the RequestLog of a finished request (sanitised, within the schema's limits). */
  toLog(request: FinishedRequest): RequestLog {
    const max = this.maxTextLength;
    const userAgent = sanitizeText(request.userAgent, max);
    const ip = clientIp(request.forwardedFor, request.remoteAddress, this.trustProxy);
    const visitorId = this.visitorIds.hash(ip, userAgent, request.startedAt);
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
      session_id: this.sessions.sessionFor(visitorId, request.startedAt.getTime()),
      node_id: this.nodeId,
      ip: this.storeIp ? ip : null,
      inserted_at: request.startedAt,
    };
  }
}

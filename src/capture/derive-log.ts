import type { RequestLog } from '../schema/request-log.js';
import type { CapturedRequest } from './captured-request.js';
import { clientIp } from './client-ip.js';
import { countryFrom } from './country.js';
import { refererParts } from './referer.js';
import { pathOf, sanitizeText } from './sanitize.js';
import type { Sessions } from './sessions.js';
import { callAttributes, normalizeAttributes, type AttributeDropSink, type AttributesFunction } from './attributes.js';
import { callConsumer, normalizeConsumer, type ConsumerColumns, type ConsumerDropSink, type ConsumerFunction } from './consumer.js';
import { errorDetails, type ErrorDetails, type MessageRedactor } from './error-details.js';
import { traceIdsOf } from './trace-context.js';
import type { TrustFunction } from './trust-proxy.js';
import { userAgentInfo } from './user-agent-info.js';
import { asError, thrownDetail } from './drop-counter.js';
import { redactLog, type RedactFailSink } from './redact.js';
import { requestIdOf, type RequestIdContext } from './request-id.js';
import type { Redactor } from './redact-options.js';
import type { VisitorIds } from './visitor-ids.js';

/** Everything {@link deriveLog} needs besides the captured request: settings and the per-process visitor/session state. */
export interface DeriveContext extends RequestIdContext {
  nodeId: string;
  visitorIds: Pick<VisitorIds, 'hash'>;
  sessions: Pick<Sessions, 'sessionFor'>;
  /** pgpulse's `trustProxy`, for adapters that do not bring the framework's own. */
  trust: TrustFunction;
  storeIp: boolean;
  storeRefererQuery: boolean;
  maxTextLength: number;
  /** Headers trusted for the visitor's country, in order; empty when off. */
  countryHeaders: readonly string[];
  /** The app's `attributes` option, if any. */
  attributes: AttributesFunction | undefined;
  /** Told about each request whose attributes were (partly) dropped. */
  dropAttributes: AttributeDropSink;
  /** Told about each referer whose host is not a host name or IP literal (its `referer_host` is stored as null). */
  rejectRefererHost: (authority: string) => void;
  /** The app's `consumer` option, if any. */
  consumer: ConsumerFunction | undefined;
  /** Told about each request whose consumer was dropped. */
  dropConsumer: ConsumerDropSink;
  /** Store request errors (`captureErrors`). */
  captureErrors: boolean;
  /** The app's `redactErrorMessage` (or the default). */
  redactErrorMessage: MessageRedactor;
  /** Told about each request whose error could not be read (counted; the request is stored without it). */
  dropError: (detail: string, error: Error) => void;
  /** The `redact` option, compiled; undefined when none. */
  redact: Redactor | undefined;
  /** What a masked value becomes (`redact.censor`, also when `redactErrorMessage` throws). */
  censor: string;
  /** Told about each request whose redaction failed (the fields concerned were masked). */
  redactFailed: RedactFailSink;
}

/**
 * Derives the RequestLog of a captured request that started at `startedAt`
 * (epoch ms): client address (proxy-aware),
 * visitor id, session, device class, sanitised text, privacy-cut referer and
 * the request id, the trace ids (active OpenTelemetry span, else
 * `traceparent`), the custom attributes (the `attributes` option is called
 * here, in the batch, after the response finished), the consumer and error,
 * and last the `redact` option over all of it (so nothing unredacted is ever
 * published). The single place that decides what is derived; it may run
 * on the request path or later in batches (it reads nothing but its inputs,
 * and the visitor and session state in `context`). Throws only on a bug.
 */
export function deriveLog(request: CapturedRequest, context: DeriveContext, startedAt: number): RequestLog {
  const max = context.maxTextLength;
  const headers = request.headers;
  const userAgent = sanitizeText(headers['user-agent'], max);
  const ip = request.ip ? clientIp(undefined, request.ip) : clientIp(headers['x-forwarded-for'], request.remoteAddress, request.trust ?? context.trust);
  const visitorId = context.visitorIds.hash(ip, userAgent, startedAt);
  const statusCode = Number.isInteger(request.statusCode) && request.statusCode >= 100 && request.statusCode <= 999 ? request.statusCode : 500;
  const referer = refererParts(headers.referer ?? headers.referrer, context.storeRefererQuery, max);
  if (referer.rejectedHost !== undefined) context.rejectRefererHost(referer.rejectedHost);
  const info = userAgentInfo(userAgent);
  const bytes = request.responseBytes;
  const trace = traceIdsOf(request.span, headers.traceparent);
  const error = errorOf(request, statusCode, context);
  const log: RequestLog = {
    request_id: requestIdOf(request, context),
    method: sanitizeText(request.method, 32) || 'GET',
    path: pathOf(request.url, max),
    route: sanitizeText(request.route, 2048),
    status_code: statusCode,
    duration_ms: Number.isFinite(request.durationMs) ? Math.max(0, request.durationMs) : 0,
    response_bytes: bytes === null || !Number.isSafeInteger(bytes) || bytes < 0 ? null : bytes,
    user_agent: userAgent,
    referer: referer.referer,
    device_type: info.device_type,
    visitor_id: visitorId,
    session_id: context.sessions.sessionFor(visitorId, startedAt),
    node_id: context.nodeId,
    ip: context.storeIp ? ip : null,
    inserted_at: new Date(startedAt),
    referer_host: referer.referer_host,
    browser: info.browser,
    os: info.os,
    country: context.countryHeaders.length === 0 ? null : countryFrom(headers, context.countryHeaders),
    trace_id: trace?.trace_id ?? null,
    span_id: trace?.span_id ?? null,
    attributes: attributesOf(request, context),
    ...consumerOf(request, context),
    error_fingerprint: error?.fingerprint ?? null,
    error: error ? { class: error.class, message: error.message, frames: error.frames } : null,
  };
  return context.redact ? redactLog(log, context.redact, context.redactFailed, context.dropAttributes) : log;
}

/** The request's consumer: the adapter's own, else the `consumer` option's, validated and bounded. */
function consumerOf(request: CapturedRequest, context: DeriveContext): ConsumerColumns {
  let input: unknown = request.consumer;
  if (input === undefined && context.consumer && request.http) input = callConsumer(context.consumer, request.http.req, request.http.res, context.dropConsumer);
  return normalizeConsumer(input, context.dropConsumer);
}

/** The request's error when it is kept: reported by the app, or behind a 5xx; null when none (or it could not be read). */
function errorOf(request: CapturedRequest, statusCode: number, context: DeriveContext): ErrorDetails | null {
  if (request.error === undefined || !context.captureErrors) return null;
  if (!request.errorReported && statusCode < 500) return null;
  // A throwing redactor stores the censor, never the message it was given.
  const redact: MessageRedactor = (message, thrown) => {
    try {
      return context.redactErrorMessage(message, thrown);
    } catch (error) {
      context.redactFailed('threw', `redactErrorMessage threw: ${thrownDetail(error)}`, asError(error));
      return context.censor;
    }
  };
  try {
    return errorDetails(request.error, redact);
  } catch (error) {
    context.dropError(`the error could not be read: ${thrownDetail(error)}`, asError(error));
    return null;
  }
}

/** The request's custom attributes: the adapter's own, else the `attributes` option's, validated and bounded. */
function attributesOf(request: CapturedRequest, context: DeriveContext): RequestLog['attributes'] {
  let input: unknown = request.attributes;
  if (input === undefined && context.attributes && request.http)
    input = callAttributes(context.attributes, request.http.req, request.http.res, context.dropAttributes);
  return normalizeAttributes(input, context.dropAttributes);
}

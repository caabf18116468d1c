/**
 * Trace correlation: the W3C Trace Context of a request, from the active
 * OpenTelemetry span (when `@opentelemetry/api` is installed and a span is
 * active) or from the `traceparent` header.
 * https://www.w3.org/TR/trace-context/#traceparent-header
 */
import { openTelemetry } from '../shared/open-telemetry.js';
import { SPAN_ID_PATTERN, TRACE_ID_PATTERN } from '../schema/columns.js';

/** The ids a row stores: `trace_id` and `span_id` (lower-case hex), or null for both. */
export interface TraceIds {
  trace_id: string;
  span_id: string;
}

/** What pgpulse reads of an OpenTelemetry span (structurally `Span` of `@opentelemetry/api`). */
export interface SpanLike {
  spanContext(): { traceId: string; spanId: string; traceFlags: number };
}

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** `version-traceid-parentid-flags`, the four fields every version starts with (lower-case hex only). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;
/** Length of a version 00 header (and of the four fields of any version). */
const FIELDS_LENGTH = 55;

/** Longest `traceparent` header read (version 00 is 55 characters; later versions may add fields). */
const MAX_TRACEPARENT_LENGTH = 512;

/**
 * The trace and parent span ids of a `traceparent` header, or null when it is
 * missing or malformed: upper-case hex, version `ff`, an all-zero trace or
 * span id, version 00 with anything after the flags, or a repeated header.
 * A higher version is read by its first four fields when what follows them
 * starts with `-` (the spec's forward compatibility rule).
 */
export function parseTraceparent(header: string | readonly string[] | undefined): TraceIds | null {
  // Version 00 is 55 characters; a longer header (a crafted 16 KB one) is not trimmed or matched.
  if (typeof header !== 'string' || header.length > MAX_TRACEPARENT_LENGTH) return null;
  const value = header.trim();
  const match = TRACEPARENT.exec(value);
  if (!match) return null;
  const [, version, traceId, spanId] = match as unknown as [string, string, string, string];
  if (version === 'ff') return null;
  if (version === '00' ? value.length !== FIELDS_LENGTH : value.length > FIELDS_LENGTH && value[FIELDS_LENGTH] !== '-') return null;
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return null;
  return { trace_id: traceId, span_id: spanId };
}

/** The ids of an OpenTelemetry span when its context is valid, else null. */
export function spanIds(span: SpanLike | undefined): TraceIds | null {
  if (span === undefined) return null;
  const context = span.spanContext();
  const api = openTelemetry();
  if (api && !api.isSpanContextValid(context)) return null;
  // Checked again here: the row's columns only take lower-case hex.
  if (!TRACE_ID_PATTERN.test(context.traceId) || !SPAN_ID_PATTERN.test(context.spanId)) return null;
  if (context.traceId === ZERO_TRACE_ID || context.spanId === ZERO_SPAN_ID) return null;
  return { trace_id: context.traceId, span_id: context.spanId };
}

/**
 * The span active in the current context, when `@opentelemetry/api` is
 * installed; read on the request path (only a reference is kept, its ids are
 * read in the capture batch).
 */
export function activeSpan(): SpanLike | undefined {
  return openTelemetry()?.trace.getActiveSpan();
}

/** The trace ids of a request: its active span's when valid, else its `traceparent` header's. */
export function traceIdsOf(span: SpanLike | undefined, traceparent: string | readonly string[] | undefined): TraceIds | null {
  return spanIds(span) ?? parseTraceparent(traceparent);
}

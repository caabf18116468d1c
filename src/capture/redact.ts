/**
 * Applies the `redact` capture option to a derived RequestLog, in the capture
 * batch, before it is published: path patterns, then masked fields, then the
 * app's function. Whatever goes wrong (the function throws or returns what
 * cannot be stored) masks the field, is counted and reported, and never
 * reaches the app: an unredacted value is never stored.
 */
import { requestLogColumns, errorLimits, type Attributes } from '../schema/columns.js';
import type { RequestLog } from '../schema/request-log.js';
import { normalizeAttributes, type AttributeDropSink } from './attributes.js';
import { asError, thrownDetail } from './drop-counter.js';
import { boundedText, fingerprintOf } from './error-details.js';
import { redactPath } from './path-patterns.js';
import { redactableFields, type RedactableField, type RedactableFields, type Redactor } from './redact-options.js';
import { sanitizeText } from './sanitize.js';

/** Why a redaction failed: the function (`redact.fn`, `redactErrorMessage`) threw, or returned what cannot be stored. */
export const redactFailReasons = ['threw', 'invalid'] as const;
export type RedactFailReason = (typeof redactFailReasons)[number];

/** Told about each request whose redaction failed (its fields were masked). */
export type RedactFailSink = (reason: RedactFailReason, detail: string, error?: Error) => void;

/** Text columns among the redactable fields (checked with their column's schema). */
type TextField = Exclude<RedactableField, 'attributes' | 'error_message'>;

/** Redacts `log` in place and returns it. */
export function redactLog(log: RequestLog, redactor: Redactor, fail: RedactFailSink, dropAttributes: AttributeDropSink): RequestLog {
  if (redactor.paths) {
    log.path = redactPath(log.path, redactor.paths, redactor.censor);
    if (log.referer !== null) log.referer = redactPath(log.referer, redactor.paths, redactor.censor);
  }
  if (redactor.fields.size > 0 || redactor.attributeKeys.size > 0) maskFields(log, redactor);
  if (redactor.fn) applyFunction(log, redactor, fail, dropAttributes);
  return log;
}

/** `redact.fields`: masks (or removes) the named fields and attributes. */
function maskFields(log: RequestLog, redactor: Redactor): void {
  for (const field of redactor.fields) mask(log, field, redactor);
  if (redactor.attributeKeys.size === 0 || log.attributes === null || redactor.fields.has('attributes')) return;
  const current = log.attributes;
  if (![...redactor.attributeKeys].some((key) => Object.hasOwn(current, key))) return;
  const kept = Object.entries(current).flatMap(([key, value]): [string, Attributes[string]][] =>
    !redactor.attributeKeys.has(key) ? [[key, value]] : redactor.remove ? [] : [[key, redactor.censor]],
  );
  const attributes: Attributes = Object.fromEntries(kept);
  log.attributes = kept.length > 0 ? attributes : null;
}

/** Masks one field: the censor, or null with `remove` (the path and request id, which a row always has, get the censor). */
function mask(log: RequestLog, field: RedactableField, redactor: Redactor): void {
  const { censor, remove } = redactor;
  if (field === 'path') log.path = `/${censor}`;
  else if (field === 'request_id') log.request_id = censor;
  else if (field === 'attributes') {
    if (log.attributes !== null) log.attributes = remove ? null : Object.fromEntries(Object.keys(log.attributes).map((key) => [key, censor] as const));
  } else if (field === 'error_message') {
    if (log.error !== null) setErrorMessage(log, remove ? '' : censor);
  } else if (log[field] !== null) log[field] = remove ? null : censor;
}

/** `redact.fn`: calls the app's function and stores what it returns, checked; masks everything it would have seen when it throws. */
function applyFunction(log: RequestLog, redactor: Redactor, fail: RedactFailSink, dropAttributes: AttributeDropSink): void {
  const fields = fieldsOf(log);
  let returned: unknown;
  try {
    returned = redactor.fn!(fields, { method: log.method, route: log.route, status_code: log.status_code });
  } catch (error) {
    fail('threw', `redact.fn threw: ${thrownDetail(error)}`, asError(error));
    maskAll(log, redactor);
    return;
  }
  if (returned === undefined) returned = fields;
  if (returned === null || typeof returned !== 'object' || Array.isArray(returned)) {
    fail('invalid', `redact.fn returned ${returned === null ? 'null' : Array.isArray(returned) ? 'an array' : typeof returned}, not the fields`);
    maskAll(log, redactor);
    return;
  }
  const out = returned as Record<string, unknown>;
  for (const field of redactableFields) {
    if (!Object.hasOwn(out, field)) continue;
    const value = out[field];
    if (value === undefined || value === currentValue(log, field)) continue;
    if (!store(log, field, value, dropAttributes)) {
      fail('invalid', `redact.fn returned an invalid ${field}`);
      mask(log, field, { ...redactor, remove: false });
    }
  }
}

/** A copy of the redactable fields of `log` (attributes copied too: the function may change them). */
function fieldsOf(log: RequestLog): RedactableFields {
  return {
    path: log.path,
    referer: log.referer,
    referer_host: log.referer_host,
    user_agent: log.user_agent,
    request_id: log.request_id,
    attributes: log.attributes === null ? null : { ...log.attributes },
    consumer_id: log.consumer_id,
    consumer_name: log.consumer_name,
    consumer_group: log.consumer_group,
    error_message: log.error?.message ?? null,
  };
}

function currentValue(log: RequestLog, field: RedactableField): unknown {
  return field === 'error_message' ? (log.error?.message ?? null) : log[field];
}

/** Stores a value the function returned; false when it cannot be stored (the caller masks the field). */
function store(log: RequestLog, field: RedactableField, value: unknown, dropAttributes: AttributeDropSink): boolean {
  if (field === 'attributes') {
    log.attributes = normalizeAttributes(value, dropAttributes);
    return true;
  }
  if (field === 'error_message') {
    if (typeof value !== 'string' && value !== null) return false;
    if (log.error !== null) setErrorMessage(log, boundedText(value ?? '', errorLimits.maxMessageLength));
    return true;
  }
  if (typeof value !== 'string' && value !== null) return false;
  const text = typeof value === 'string' ? sanitizeText(value, Number.MAX_SAFE_INTEGER) : null;
  const schema = requestLogColumns[field satisfies TextField].schema;
  if (!schema.safeParse(text).success) return false;
  (log as unknown as Record<TextField, string | null>)[field] = text;
  return true;
}

/** Sets the error's message; an error without frames is grouped by its message, so its fingerprint follows. */
function setErrorMessage(log: RequestLog, message: string): void {
  const error = log.error!;
  log.error = { ...error, message };
  if (error.frames.length === 0) log.error_fingerprint = fingerprintOf(error.class, [], message);
}

/** Masks every field the function would have seen: nothing it might have hidden is stored. */
function maskAll(log: RequestLog, redactor: Redactor): void {
  const keep = { ...redactor, remove: false };
  for (const field of redactableFields) mask(log, field, keep);
  // The route is the path with its parameters named, not their values.
  if (log.route !== null && log.route.startsWith('/')) log.path = log.route;
  log.attributes = null;
}

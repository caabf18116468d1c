/**
 * What pgpulse keeps of an exception: its class, a bounded message, the top
 * stack frames and a fingerprint that groups the same failure across requests,
 * nodes and deploys. Hand-written (no stack-parsing library): it reads V8's
 * stack text only, runs in the capture batch (never on the request path), and
 * must never throw whatever the app threw — getters that throw, proxies,
 * non-Error values, a throwing `Error.prepareStackTrace` and megabyte stacks
 * are all read defensively and cut before any work.
 */
import { createHash } from 'node:crypto';
import { errorLimits, type RequestError } from '../schema/columns.js';

/** The error of one request as stored: the `error` column plus the `error_fingerprint` column. */
export interface ErrorDetails extends RequestError {
  fingerprint: string;
}

/** Most stack text read, in characters (a deep or recursive stack is cut before it is split). */
const MAX_STACK_READ = 16_384;
/** Frames of the app's own code (not node_modules, not Node's internals) that make the fingerprint. */
const FINGERPRINT_FRAMES = 5;

/** Reads `key` of `value`, or undefined when the read throws (getters, revoked proxies). */
function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** Cuts to `max` characters, replaces NUL (Postgres text refuses it) and lone surrogates (jsonb refuses them). */
export function boundedText(text: string, max: number): string {
  let out = text.length > max ? text.slice(0, max) : text;
  // A cut may split a surrogate pair: drop the lone high half at the end.
  out = out.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return out.includes('\u0000') ? out.replaceAll('\u0000', '\uFFFD') : out;
}

/** The error's class: its `name` when it says more than `Error`, else its constructor's name. */
function classOf(error: object): string {
  const name = read(error, 'name');
  if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
  const ctor = read(error, 'constructor');
  const ctorName = typeof ctor === 'function' ? read(ctor, 'name') : undefined;
  if (typeof ctorName === 'string' && ctorName !== '' && ctorName !== 'Object') return ctorName;
  return typeof name === 'string' && name !== '' ? name : 'Error';
}

function stringOf(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') return json;
  } catch {
    // circular or a throwing toJSON: fall through
  }
  try {
    return String(value);
  } catch {
    return '(unreadable value)';
  }
}

/** One V8 stack line: `at fn (location:line:col)` or `at location:line:col`. */
const FRAME = /^\s*at (?:(.+?) \()?(.*?)(?::\d+)?(?::\d+)?\)?$/;

/** A frame location with what changes across deploys taken out: the install prefix, `file://`, query strings and content hashes. */
export function normalizeLocation(location: string, cwd: string): string {
  let path = location
    .replace(/^file:\/\//, '')
    .replace(/[?#].*$/, '')
    .replaceAll('\\', '/');
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) path = path.slice(modules);
  else if (cwd && path.startsWith(cwd)) path = path.slice(cwd.length).replace(/^\/+/, '');
  // Release directories (`v42`, `20261202`, a commit hash) are not part of what the code is.
  const segments = path.split('/').filter((s) => s !== '' && !/^v?\d+(?:[._-]\d+)*$/.test(s) && !/^[0-9a-f]{7,40}$/i.test(s));
  // The last three segments: enough to tell files apart, without the release directory around them.
  const kept = modules >= 0 ? segments.slice(0, 2).concat(segments.slice(2).slice(-2)) : segments.slice(-3);
  return kept.map((s) => s.replace(/[.-][0-9a-f]{6,}(?=\.|$)/gi, '.[hash]').replace(/@[\d.]+[\w.-]*$/, '')).join('/');
}

/** Whether a normalised frame is the app's own code (what groups errors best). */
function isAppFrame(location: string): boolean {
  return !location.startsWith('node_modules/') && !location.startsWith('node:') && location !== '<anonymous>' && location !== 'native';
}

interface Frame {
  /** The line as stored: `at fn (location:line:col)`, trimmed and bounded. */
  text: string;
  /** `fn location` without line and column. */
  key: string;
  app: boolean;
}

function framesOf(stack: string, cwd: string): Frame[] {
  const frames: Frame[] = [];
  for (const line of stack.slice(0, MAX_STACK_READ).split('\n')) {
    if (!/^\s*at /.test(line)) continue;
    const match = FRAME.exec(line);
    if (!match) continue;
    const fn = (match[1] ?? '').replace(/^async /, '').replace(/^new /, 'new ');
    const location = normalizeLocation(match[2] ?? '', cwd);
    frames.push({ text: boundedText(line.trim(), errorLimits.maxFrameLength), key: `${fn} ${location}`, app: isAppFrame(location) });
    if (frames.length >= 64) break;
  }
  return frames;
}

/** A message with what varies between occurrences (numbers, ids, quoted values) replaced, for errors without frames. */
export function normalizeMessage(message: string): string {
  return message
    .slice(0, errorLimits.maxMessageLength)
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/(["'`]).*?\1/g, '<str>')
    .replace(/\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d+(?:\.\d+)?/g, '<n>');
}

/** The fingerprint of an error: 16 hex digits of SHA-256 over its class and its top app frames (else all frames, else its normalised message). */
export function fingerprintOf(errorClass: string, frames: readonly Frame[], message: string): string {
  const app = frames.filter((f) => f.app);
  const chosen = (app.length > 0 ? app : frames).slice(0, FINGERPRINT_FRAMES).map((f) => f.key);
  const basis = chosen.length > 0 ? chosen.join('\n') : normalizeMessage(message);
  return createHash('sha256').update(`${errorClass}\n${basis}`).digest('hex').slice(0, 16);
}

/** Turns a message into what is stored: `redact` (the app's) first, then the bound. */
export type MessageRedactor = (message: string, error: unknown) => string;

/**
 * The stored details of `thrown` (any value: an Error, a string, an object).
 * `redact` sees the message before it is bounded; what it returns is stored.
 * Throws only when `redact` throws (the caller counts it and stores no error).
 */
export function errorDetails(thrown: unknown, redact: MessageRedactor, cwd = process.cwd()): ErrorDetails {
  let errorClass: string;
  let rawMessage: string;
  let frames: Frame[] = [];
  if (thrown !== null && (typeof thrown === 'object' || typeof thrown === 'function')) {
    errorClass = boundedText(classOf(thrown), errorLimits.maxClassLength);
    const message = read(thrown, 'message');
    rawMessage = typeof message === 'string' ? message.slice(0, 4 * errorLimits.maxMessageLength) : message === undefined ? '' : stringOf(message);
    const stack = read(thrown, 'stack');
    if (typeof stack === 'string') frames = framesOf(stack, cwd);
  } else {
    errorClass = 'NonError';
    rawMessage = stringOf(thrown).slice(0, 4 * errorLimits.maxMessageLength);
  }
  // JavaScript callers' redactors may return anything.
  const redacted: unknown = redact(rawMessage, thrown);
  const message = boundedText(typeof redacted === 'string' ? redacted : stringOf(redacted), errorLimits.maxMessageLength);
  return {
    class: errorClass,
    message,
    frames: frames.slice(0, errorLimits.maxFrames).map((f) => f.text),
    // The message counts only when there are no frames, redacted and normalised (values become placeholders).
    fingerprint: fingerprintOf(errorClass, frames, message),
  };
}

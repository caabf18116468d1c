/**
 * The URL path patterns of the `redact` capture option (`/reset/:token`,
 * `/t/*\/invite/:secret`, `/files/*rest`): which segments of a path are
 * secrets, masked before a request is broadcast or stored.
 *
 * Hand-written, not path-to-regexp: it runs in the capture batch on every
 * request, on paths of up to 65,536 characters that a client chooses, and its
 * cost must not depend on them. A path is scanned once, for at most as many
 * segments as the longest pattern has (plus one); each pattern then compares
 * only its own segments, and a literal is read only when its length matches.
 * No regular expression runs on the path.
 */

/** Most patterns in `redact.paths`. */
export const MAX_PATH_PATTERNS = 256;
/** Most segments in one pattern. */
export const MAX_PATTERN_SEGMENTS = 32;

type Segment =
  /** Matches this text, case-insensitively (as Express and Fastify route by default). */
  | { kind: 'literal'; text: string }
  /** `:name`: one non-empty segment, masked. */
  | { kind: 'param' }
  /** `*`: one non-empty segment, kept. */
  | { kind: 'any' }
  /** `*name`, last only: one or more segments (the rest of the path), masked as one. */
  | { kind: 'splat' };

/** One compiled pattern. */
export interface PathPattern {
  source: string;
  segments: readonly Segment[];
}

/** Compiled patterns, and how many segments of a path they can need. */
export interface PathPatterns {
  patterns: readonly PathPattern[];
  /** Segments of the longest pattern. */
  maxSegments: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Compiles one pattern; returns a message saying what is wrong with it instead when it is not one. */
export function parsePathPattern(source: string): PathPattern | string {
  if (!source.startsWith('/')) return 'must start with /';
  if (/[?#\s]/.test(source)) return 'must be a path: no query string, fragment or white space';
  const parts = source.slice(1).replace(/\/$/, '').split('/');
  if (parts.length > MAX_PATTERN_SEGMENTS) return `must have at most ${MAX_PATTERN_SEGMENTS} segments`;
  const segments: Segment[] = [];
  for (const [i, part] of parts.entries()) {
    if (part === '') return parts.length === 1 ? 'must have at least one segment' : 'must not have empty segments (//)';
    if (part === '*') segments.push({ kind: 'any' });
    else if (part.startsWith(':') || part.startsWith('*')) {
      if (!NAME.test(part.slice(1))) return `segment ${part}: a parameter is : or * and a name ([A-Za-z_][A-Za-z0-9_]*)`;
      if (part.startsWith('*') && i !== parts.length - 1) return `segment ${part}: *name (the rest of the path) must be the last segment`;
      segments.push({ kind: part.startsWith(':') ? 'param' : 'splat' });
    } else if (/[:*]/.test(part)) return `segment ${part}: : and * start a parameter; they cannot be inside a segment`;
    else segments.push({ kind: 'literal', text: part.toLowerCase() });
  }
  if (!segments.some((s) => s.kind === 'param' || s.kind === 'splat')) return 'must have a :name or *name segment to mask';
  return { source, segments };
}

/** Compiles the checked patterns. */
export function compilePathPatterns(patterns: readonly PathPattern[]): PathPatterns {
  return { patterns, maxSegments: Math.max(0, ...patterns.map((p) => p.segments.length)) };
}

/**
 * `path` with the segments of the first matching pattern replaced by
 * `censor`, or `path` itself when none matches. An absolute-form target
 * (`http://host/reset/x`) or an absolute referer keeps its scheme and
 * authority; the query string and fragment, if any, are kept as they are
 * (the path column has none; referers keep them only with `storeRefererQuery`).
 */
export function redactPath(path: string, compiled: PathPatterns, censor: string): string {
  const start = pathStart(path);
  if (start < 0) return path;
  let end = path.length;
  const q = path.indexOf('?', start);
  const h = path.indexOf('#', start);
  if (q >= 0) end = q;
  if (h >= 0 && h < end) end = h;
  // Segment i spans [starts[i], ends[i]); at most maxSegments + 2 are read (a trailing slash adds an empty one).
  const starts: number[] = [];
  const ends: number[] = [];
  let at = start;
  let complete = false;
  while (starts.length < compiled.maxSegments + 2) {
    const next = path.indexOf('/', at + 1);
    const segmentEnd = next < 0 || next > end ? end : next;
    starts.push(at + 1);
    ends.push(segmentEnd);
    if (segmentEnd === end) {
      complete = true;
      break;
    }
    at = segmentEnd;
  }
  let count = starts.length;
  // `/reset/abc/` matches `/reset/:token`, as routers match it.
  if (complete && count > 1 && starts[count - 1] === ends[count - 1]) count--;
  for (const pattern of compiled.patterns) {
    const masked = match(path, pattern.segments, starts, ends, count, complete);
    if (masked) return rebuild(path, masked, starts, ends, end, censor);
  }
  return path;
}

/** Where the path of `value` starts (its first `/`), or -1 when it has none (`*`, a bare host). */
function pathStart(value: string): number {
  if (value.startsWith('/')) return 0;
  const scheme = value.indexOf('://');
  if (scheme <= 0 || scheme > 32) return -1;
  return value.indexOf('/', scheme + 3);
}

/** The indexes of the segments to mask (a splat: its first index, then -1), or undefined when `segments` do not match. */
function match(path: string, segments: readonly Segment[], starts: number[], ends: number[], count: number, complete: boolean): number[] | undefined {
  const splat = segments[segments.length - 1]!.kind === 'splat';
  if (splat ? count < segments.length : !complete || count !== segments.length) return undefined;
  const masked: number[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const length = ends[i]! - starts[i]!;
    if (length === 0) return undefined;
    if (segment.kind === 'literal') {
      if (length !== segment.text.length || path.slice(starts[i], ends[i]).toLowerCase() !== segment.text) return undefined;
    } else if (segment.kind === 'param') masked.push(i);
    else if (segment.kind === 'splat') masked.push(i, -1);
  }
  return masked;
}

function rebuild(path: string, masked: number[], starts: number[], ends: number[], end: number, censor: string): string {
  let out = '';
  let from = 0;
  for (let k = 0; k < masked.length; k++) {
    const i = masked[k]!;
    const toEnd = masked[k + 1] === -1;
    out += path.slice(from, starts[i]) + censor;
    from = toEnd ? end : ends[i]!;
    if (toEnd) break;
  }
  return out + path.slice(from);
}

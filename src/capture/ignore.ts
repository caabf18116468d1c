import type { IncomingHttpHeaders } from 'node:http';

/** What an `ignore` predicate sees of a request, before it is handled. */
export interface IgnoreRequest {
  /** Upper-case method, e.g. `GET`. */
  method: string;
  /** Path without query string or fragment, e.g. `/users/42`. */
  path: string;
  /** Request headers, lower-case names (node:http's `IncomingHttpHeaders`). */
  headers: IncomingHttpHeaders;
}

/** What an `ignoreResponse` predicate sees of a finished request, in the capture batch. */
export interface IgnoreResponse extends IgnoreRequest {
  /** Status sent (499 when the client went away before the response finished). */
  statusCode: number;
  /** Route pattern the framework matched (`/users/:id`); null when none (a 404, bare node:http). */
  route: string | null;
  /** Milliseconds from the request's start to the response's end. */
  durationMs: number;
}

/** A late ignore: true when the finished request is not recorded (e.g. `({ statusCode }) => statusCode === 404`). */
export type IgnoreResponseRule = (response: IgnoreResponse) => boolean;

/**
 * A request filter: an exact path, a regular expression tested on the path,
 * or a predicate on the whole request.
 */
export type IgnoreRule = string | RegExp | ((request: IgnoreRequest) => boolean);

/** CORS preflights (and every other OPTIONS request). */
export const ignoreOptionsRequests = (request: IgnoreRequest): boolean => request.method === 'OPTIONS';

/**
 * The metrics endpoint and the common health and probe paths, exact paths not
 * recorded by default: `/metrics`, `/health`, `/healthz`, `/livez`, `/readyz`.
 * The `probePaths` option replaces the list; extend it with
 * `probePaths: [...defaultProbePaths, '/ping']`, record them all with `[]`.
 */
export const defaultProbePaths: readonly string[] = Object.freeze(['/metrics', '/health', '/healthz', '/livez', '/readyz']);

/** The default rules besides the probe paths: OPTIONS requests, static assets, `/favicon.ico`, `/robots.txt`. */
const defaultRequestRules: readonly IgnoreRule[] = Object.freeze([
  ignoreOptionsRequests,
  /\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|eot)$/i,
  '/favicon.ico',
  '/robots.txt',
]);

/**
 * Not recorded by default: OPTIONS requests (CORS preflights), static assets,
 * `/favicon.ico`, `/robots.txt` and the {@link defaultProbePaths} (`/metrics`,
 * `/health`, `/healthz`, `/livez`, `/readyz`). Rules given in `ignore` are
 * added to these; pass `ignoreDefaults: false` to replace them, or
 * `probePaths` to replace only the probe paths.
 */
export const defaultIgnore: readonly IgnoreRule[] = Object.freeze([...defaultRequestRules, ...defaultProbePaths]);

/** A compiled set of rules: true when the request is not recorded. May throw when a user predicate throws. */
export type IgnoreMatcher = (request: IgnoreRequest) => boolean;

/**
 * Compiles `ignore` rules (added to {@link defaultIgnore} unless
 * `ignoreDefaults` is false) into one matcher: exact paths in a set, then
 * expressions, then predicates. `probePaths`, when given, replaces the
 * {@link defaultProbePaths} (with or without the other defaults).
 */
export function compileIgnore(
  ignore: IgnoreRule | readonly IgnoreRule[] | undefined,
  ignoreDefaults = true,
  probePaths?: readonly string[],
): IgnoreMatcher | undefined {
  const own = ignore === undefined ? [] : Array.isArray(ignore) ? (ignore as readonly IgnoreRule[]) : [ignore as IgnoreRule];
  const probes = probePaths ?? (ignoreDefaults ? defaultProbePaths : []);
  const rules = [...(ignoreDefaults ? defaultRequestRules : []), ...probes, ...own];
  const paths = new Set<string>();
  const patterns: RegExp[] = [];
  const predicates: ((request: IgnoreRequest) => boolean)[] = [];
  for (const rule of rules) {
    if (typeof rule === 'string') paths.add(rule);
    else if (rule instanceof RegExp) patterns.push(rule);
    else predicates.push(rule); // a function: createPulse's capture options schema rejected anything else
  }
  if (paths.size === 0 && patterns.length === 0 && predicates.length === 0) return undefined;
  return (request) => {
    if (paths.has(request.path)) return true;
    for (const pattern of patterns) {
      pattern.lastIndex = 0;
      if (pattern.test(request.path)) return true;
    }
    for (const predicate of predicates) if (predicate(request)) return true;
    return false;
  };
}

import type { IncomingMessage } from 'node:http';

/** Where a request points, relative to the dashboard's mount point. */
export interface RequestTarget {
  /** Path inside the dashboard, e.g. `/` or `/api/stats` (raw, not decoded). */
  path: string;
  /** Query parameters. */
  search: URLSearchParams;
  /** The raw query string including `?`, or ''. */
  query: string;
  /** Path the browser requested (before a router such as Express stripped the mount path). */
  requestedPath: string;
}

const splitQuery = (target: string): [string, string] => {
  const q = target.indexOf('?');
  return q < 0 ? [target, ''] : [target.slice(0, q), target.slice(q)];
};

/**
 * Splits the request target without `new URL(req.url, base)`, which reads a
 * target such as `//evil.example` as a host and would let a redirect leave
 * the site.
 */
export function requestTarget(req: IncomingMessage, basePath: string): RequestTarget {
  const [rawPath, query] = splitQuery(req.url || '/');
  let path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
  if (basePath && (path === basePath || path.startsWith(`${basePath}/`))) path = path.slice(basePath.length) || '/';
  const original = (req as { originalUrl?: unknown }).originalUrl;
  const [requestedPath] = splitQuery(typeof original === 'string' && original ? original : req.url || '/');
  return { path, search: new URLSearchParams(query), query, requestedPath };
}

/**
 * Location that adds the trailing slash to a mount path (`/pgpulse` →
 * `./pgpulse/`), relative so it can never point at another host.
 */
export function trailingSlashLocation(target: RequestTarget): string {
  const segment = target.requestedPath.slice(target.requestedPath.lastIndexOf('/') + 1);
  return `./${segment}/${target.query}`;
}

/** Cookie `Path` for the mount point; `/` when the requested path has characters a cookie attribute must not carry. */
export function cookiePath(target: RequestTarget): string {
  return /^\/[\w\-./~%]*$/.test(target.requestedPath) ? target.requestedPath : '/';
}

import type { ServerResponse } from 'node:http';

/** Headers on every dashboard response: no sniffing, no framing, only our own scripts. */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
} as const;

/** Sends `body` as an uncached JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

/** 401 with a `WWW-Authenticate` challenge. */
export function sendUnauthorized(res: ServerResponse): void {
  res.writeHead(401, {
    'content-type': 'text/plain; charset=utf-8',
    'www-authenticate': 'Bearer realm="pgpulse"',
    'cache-control': 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end('pgpulse dashboard: a valid token is required (send Authorization: Bearer <token>, or sign in on the page)');
}

/** 403 with a plain-text reason (the request was understood and will not be served as sent). */
export function sendForbidden(res: ServerResponse, message: string): void {
  res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(message);
}

/** 503 for a dashboard that is shutting down: the client should retry elsewhere, and this connection closes. */
export function sendClosing(res: ServerResponse): void {
  res.writeHead(503, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'retry-after': '5',
    connection: 'close',
    ...SECURITY_HEADERS,
  });
  res.end('pgpulse dashboard: shutting down; try again in a moment');
}

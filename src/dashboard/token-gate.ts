import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Cookie that carries the token after the page was opened with `?token=`. */
export const TOKEN_COOKIE = 'pgpulse_token';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison (hashing first makes lengths equal). */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token a request presents: `Authorization: Bearer`, `?token=`, or the cookie. */
export function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const query = url.searchParams.get('token');
  if (query) return query;
  const cookie = req.headers.cookie;
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

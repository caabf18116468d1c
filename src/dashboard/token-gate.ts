import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Cookie set after the login form: `<expires epoch ms>.<HMAC-SHA256>`, keyed by
 * the token. It carries no secret, survives restarts, works on every node that
 * shares the token, and a new token invalidates every session at once.
 */
export const SESSION_COOKIE = 'pgpulse_session';

/** How long a login lasts. */
export const SESSION_TTL_MS = 7 * 86_400_000;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time comparison: both sides are hashed first, so lengths never leak either. */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer` header (API clients). Never read from the URL, where proxies log it. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return bearer ? bearer[1]!.trim() : undefined;
}

const signature = (token: string, expires: number) => createHmac('sha256', `pgpulse-session\0${token}`).update(String(expires)).digest('base64url');

/** A session cookie value valid until `now + ttlMs`. */
export function sessionValue(token: string, now = Date.now(), ttlMs = SESSION_TTL_MS): string {
  const expires = now + ttlMs;
  return `${expires}.${signature(token, expires)}`;
}

/** Whether a session cookie value was signed with `token` and has not expired. Constant time on the signature. */
export function validSession(value: string | undefined, token: string, now = Date.now()): boolean {
  if (!value) return false;
  const dot = value.indexOf('.');
  const expires = Number(value.slice(0, dot));
  if (dot < 1 || !Number.isSafeInteger(expires) || expires <= now) return false;
  const given = Buffer.from(value.slice(dot + 1));
  const expected = Buffer.from(signature(token, expires));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The value of cookie `name`, or undefined (also when it is malformed). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

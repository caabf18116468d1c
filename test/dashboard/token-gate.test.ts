import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { FailureLimiter } from '../../src/dashboard/failure-limiter.js';
import { isLoopbackAddress } from '../../src/dashboard/loopback.js';
import { cookieValue, presentedToken, sessionValue, tokensEqual, validSession } from '../../src/dashboard/token-gate.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('token gate', () => {
  it('compares tokens of any length without throwing (hashes first, then timingSafeEqual)', () => {
    expect(tokensEqual('secret', 'secret')).toBe(true);
    expect(tokensEqual('secret', 'secreT')).toBe(false);
    expect(tokensEqual('', 'secret')).toBe(false);
    expect(tokensEqual('x'.repeat(10_000), 'secret')).toBe(false);
    expect(tokensEqual('é', 'é')).toBe(true);
  });

  it('takes the token only from Authorization: Bearer, never from the URL or a cookie', () => {
    expect(presentedToken(req({ authorization: 'Bearer  abc ' }))).toBe('abc');
    expect(presentedToken(req({ authorization: 'bearer abc' }))).toBe('abc');
    expect(presentedToken(req({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(presentedToken(req({ cookie: 'pgpulse_token=abc' }))).toBeUndefined();
    expect(presentedToken(req({}))).toBeUndefined();
  });

  it('reads cookies and treats a malformed one as absent', () => {
    expect(cookieValue('a=1; pgpulse_session=c%20d; b=2', 'pgpulse_session')).toBe('c d');
    expect(cookieValue('pgpulse_session=%E0%A4%A', 'pgpulse_session')).toBeUndefined();
    expect(cookieValue(undefined, 'pgpulse_session')).toBeUndefined();
  });

  it('signs sessions with the token: valid until expiry, invalid for another token or when forged', () => {
    const now = 1_700_000_000_000;
    const value = sessionValue('tok', now, 60_000);
    expect(value).not.toContain('tok');
    expect(validSession(value, 'tok', now + 59_999)).toBe(true);
    expect(validSession(value, 'tok', now + 60_000)).toBe(false);
    expect(validSession(value, 'other', now)).toBe(false);
    const [expires, signature] = value.split('.');
    expect(validSession(`${Number(expires) + 1}.${signature}`, 'tok', now)).toBe(false);
    expect(validSession(`${expires}.${signature!.slice(0, -1)}`, 'tok', now)).toBe(false);
    for (const bad of ['', '.', 'abc', '1.2', `${expires}`, `-1.${signature}`]) expect(validSession(bad, 'tok', now), bad).toBe(false);
  });

  it('rate-limits failures per client in fixed windows, with bounded memory', () => {
    const limiter = new FailureLimiter(3, 1_000, 2);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterMs('a', 100)).toBe(0);
      limiter.fail('a', 100);
    }
    expect(limiter.retryAfterMs('a', 400)).toBe(700);
    expect(limiter.retryAfterMs('b', 400)).toBe(0);
    expect(limiter.retryAfterMs('a', 1_100)).toBe(0);
    limiter.fail('b', 0);
    limiter.fail('c', 0);
    limiter.fail('d', 0);
    expect((limiter as unknown as { windows: Map<string, unknown> }).windows.size).toBe(2);
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false);
  });
});

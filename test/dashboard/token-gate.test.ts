import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { presentedToken, tokensEqual } from '../../src/dashboard/token-gate.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const none = new URLSearchParams();

describe('token gate', () => {
  it('compares tokens of any length without throwing (hashes first, then timingSafeEqual)', () => {
    expect(tokensEqual('secret', 'secret')).toBe(true);
    expect(tokensEqual('secret', 'secreT')).toBe(false);
    expect(tokensEqual('', 'secret')).toBe(false);
    expect(tokensEqual('x'.repeat(10_000), 'secret')).toBe(false);
    expect(tokensEqual('é', 'é')).toBe(true);
  });

  it('takes the token from Authorization: Bearer, then ?token=, then the cookie', () => {
    expect(presentedToken(req({ authorization: 'Bearer  abc ' }), new URLSearchParams('token=q'))).toBe('abc');
    expect(presentedToken(req({ authorization: 'bearer abc' }), none)).toBe('abc');
    expect(presentedToken(req({ authorization: 'Basic abc' }), new URLSearchParams('token=q'))).toBe('q');
    expect(presentedToken(req({ cookie: 'a=1; pgpulse_token=c%20d; b=2' }), none)).toBe('c d');
    expect(presentedToken(req({}), none)).toBeUndefined();
  });

  it('treats a malformed cookie as no token instead of failing', () => {
    expect(presentedToken(req({ cookie: 'pgpulse_token=%E0%A4%A' }), none)).toBeUndefined();
  });
});

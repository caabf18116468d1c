import { describe, expect, it } from 'vitest';
import { clientIp } from '../../src/capture/client-ip.js';
import { compileTrustProxy } from '../../src/capture/trust-proxy.js';
import { pathOf, sanitizeText } from '../../src/capture/sanitize.js';

describe('sanitize', () => {
  it('strips query and fragment', () => {
    expect(pathOf('/a/b?x=1#f', 100)).toBe('/a/b');
    expect(pathOf('/a#f?x', 100)).toBe('/a');
    expect(pathOf('', 100)).toBe('/');
    expect(pathOf(undefined, 100)).toBe('/');
  });

  it('replaces NUL and truncates', () => {
    expect(sanitizeText('a\u0000b', 10)).toBe('a\uFFFDb');
    expect(sanitizeText('x'.repeat(100), 10)).toHaveLength(10);
    expect(sanitizeText(undefined, 10)).toBeNull();
    expect(sanitizeText('', 10)).toBeNull();
    expect(sanitizeText(['first', 'second'], 10)).toBe('first');
  });
});

describe('clientIp', () => {
  it('ignores X-Forwarded-For unless trusted', () => {
    expect(clientIp('1.2.3.4, 10.0.0.1', '::ffff:127.0.0.1', compileTrustProxy(false))).toBe('127.0.0.1');
    expect(clientIp('1.2.3.4, 10.0.0.1', '127.0.0.1', compileTrustProxy(true))).toBe('1.2.3.4');
    expect(clientIp(undefined, undefined, compileTrustProxy(true))).toBeNull();
  });

  it('walks X-Forwarded-For from the right, stopping at the first untrusted hop (Express semantics)', () => {
    // nginx appended the real client 198.51.100.7 to a forged header.
    const header = '6.6.6.6, 7.7.7.7, 198.51.100.7';
    expect(clientIp(header, '127.0.0.1', compileTrustProxy('loopback'))).toBe('198.51.100.7');
    expect(clientIp(header, '127.0.0.1', compileTrustProxy(1))).toBe('198.51.100.7');
    expect(clientIp(header, '127.0.0.1', compileTrustProxy(2))).toBe('7.7.7.7');
    expect(clientIp(header, '127.0.0.1', compileTrustProxy(['127.0.0.1', '198.51.100.0/24']))).toBe('7.7.7.7');
    expect(clientIp(header, '127.0.0.1', compileTrustProxy('10.0.0.0/8'))).toBe('127.0.0.1');
    expect(
      clientIp(
        header,
        '127.0.0.1',
        compileTrustProxy((address) => address === '127.0.0.1'),
      ),
    ).toBe('198.51.100.7');
    expect(clientIp(header, '::ffff:127.0.0.1', compileTrustProxy('loopback'))).toBe('198.51.100.7');
  });

  it('rejects an invalid trustProxy with a precise error', () => {
    expect(() => compileTrustProxy('not-an-ip')).toThrow(
      /^pgpulse: trustProxy must list addresses, CIDR ranges or loopback, linklocal, uniquelocal \(invalid IP address: not-an-ip\), got "not-an-ip"$/,
    );
    expect(() => compileTrustProxy(-1)).toThrow(/hop count/);
  });
});

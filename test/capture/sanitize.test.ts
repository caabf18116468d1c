import { describe, expect, it } from 'vitest';
import { clientIp } from '../../src/capture/client-ip.js';
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
    expect(clientIp('1.2.3.4, 10.0.0.1', '::ffff:127.0.0.1', false)).toBe('127.0.0.1');
    expect(clientIp('1.2.3.4, 10.0.0.1', '127.0.0.1', true)).toBe('1.2.3.4');
    expect(clientIp(undefined, undefined, true)).toBeNull();
  });
});

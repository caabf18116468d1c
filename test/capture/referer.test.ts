import { describe, expect, it } from 'vitest';
import { refererHost, refererParts } from '../../src/capture/referer.js';

describe('referer hosts', () => {
  it('keeps host names and IP literals, lower-case and in punycode, without port or credentials', () => {
    expect(refererHost('Example.COM')).toBe('example.com');
    expect(refererHost('user:pw@www.example.com.:8443')).toBe('www.example.com');
    expect(refererHost('Bücher.Example')).toBe('xn--bcher-kva.example');
    expect(refererHost('xn--bcher-kva.example')).toBe('xn--bcher-kva.example');
    expect(refererHost('203.0.113.9:80')).toBe('203.0.113.9');
    expect(refererHost('[2001:DB8::1]:8080')).toBe('[2001:db8::1]');
    expect(refererHost('localhost')).toBe('localhost');
    expect(refererHost('my_host.internal')).toBe('my_host.internal');
  });

  it('rejects everything else: formulas, shell text, empty labels, bad IPs, overlong names', () => {
    for (const bad of [
      '=1+2a',
      "cmd|' ",
      '+SUM(1)',
      'a..b',
      '-a.example',
      'a-.example',
      '999.1.1.1',
      '[zz]',
      '[::1',
      '[::1]x',
      '',
      ':80',
      'a b',
      `${'a'.repeat(64)}.example`,
      `${'a.'.repeat(130)}a`,
      'x'.repeat(5_000),
    ])
      expect(refererHost(bad), JSON.stringify(bad)).toBeNull();
  });

  it('stores the referer (cut at ? and #) and reports a rejected host', () => {
    expect(refererParts('http://=1+2a/x?q=1', false, 1_000)).toEqual({ referer: 'http://=1+2a/x', referer_host: null, rejectedHost: '=1+2a' });
    expect(refererParts('https://ok.example/p#f', false, 1_000)).toEqual({ referer: 'https://ok.example/p', referer_host: 'ok.example' });
    // Not absolute: no host, nothing to reject.
    expect(refererParts('/relative', false, 1_000)).toEqual({ referer: '/relative', referer_host: null });
    expect(refererParts('about:blank', false, 1_000)).toEqual({ referer: 'about:blank', referer_host: null });
  });
});

import { describe, expect, it } from 'vitest';
import { compilePathPatterns, parsePathPattern, redactPath } from '../../src/capture/path-patterns.js';

function compiled(...sources: string[]) {
  return compilePathPatterns(
    sources.map((source) => {
      const pattern = parsePathPattern(source);
      if (typeof pattern === 'string') throw new Error(pattern);
      return pattern;
    }),
  );
}

const C = '[redacted]';

describe('redact path patterns', () => {
  const patterns = compiled('/reset/:token', '/invite/:secret/accept', '/t/*/keys/:key', '/files/*rest', '/a/:x/b/:y');

  it('masks the parameters of the first matching pattern, keeping literals, wildcards, trailing slash, query and fragment', () => {
    expect(redactPath('/reset/abc123', patterns, C)).toBe('/reset/[redacted]');
    expect(redactPath('/Reset/abc123/', patterns, C)).toBe('/Reset/[redacted]/');
    expect(redactPath('/reset/abc?next=%2F#x', patterns, C)).toBe('/reset/[redacted]?next=%2F#x');
    expect(redactPath('/invite/s3cr3t/accept', patterns, C)).toBe('/invite/[redacted]/accept');
    expect(redactPath('/t/acme/keys/k-1', patterns, C)).toBe('/t/acme/keys/[redacted]');
    expect(redactPath('/files/a/b/c.txt', patterns, C)).toBe('/files/[redacted]');
    expect(redactPath('/a/1/b/2', patterns, C)).toBe('/a/[redacted]/b/[redacted]');
  });

  it('leaves other paths alone: fewer or more segments, empty segments, other literals', () => {
    for (const path of ['/reset', '/reset/', '/reset//', '/reset/abc/more', '/resets/abc', '/invite/x', '/invite/x/accept/y', '/files', '/files/', '/', '*'])
      expect(redactPath(path, patterns, C), path).toBe(path);
  });

  it('masks the path of an absolute URL (a referer, an absolute-form target) and keeps its origin', () => {
    expect(redactPath('https://app.example:8443/reset/abc', patterns, C)).toBe('https://app.example:8443/reset/[redacted]');
    expect(redactPath('https://app.example', patterns, C)).toBe('https://app.example');
    expect(redactPath('android-app://com.example/reset/abc', patterns, C)).toBe('android-app://com.example/reset/[redacted]');
  });

  it('reads a bounded number of segments of any path (65,536 characters, 32,768 segments)', () => {
    const many = `/reset/${'a/'.repeat(32_000)}`;
    expect(redactPath(many, patterns, C)).toBe(many);
    const splat = `/files/${'a/'.repeat(32_000)}x`;
    expect(redactPath(splat, patterns, C)).toBe('/files/[redacted]');
    const long = `/reset/${'x'.repeat(65_000)}`;
    expect(redactPath(long, patterns, C)).toBe('/reset/[redacted]');
    const literal = `/${'reset'.repeat(13_000)}/x`;
    expect(redactPath(literal, patterns, C)).toBe(literal);
  });

  it('refuses what is not a pattern, saying why', () => {
    expect(parsePathPattern('reset/:token')).toBe('must start with /');
    expect(parsePathPattern('/reset/:token?x')).toMatch(/no query string/);
    expect(parsePathPattern('/reset')).toMatch(/:name or \*name segment/);
    expect(parsePathPattern('/a//:b')).toMatch(/empty segments/);
    expect(parsePathPattern('/files/*rest/x')).toMatch(/must be the last segment/);
    expect(parsePathPattern('/a/:')).toMatch(/a parameter is/);
    expect(parsePathPattern('/a/b:c')).toMatch(/cannot be inside a segment/);
    expect(parsePathPattern(`/${'a/'.repeat(40)}:x`)).toMatch(/at most 32 segments/);
  });
});

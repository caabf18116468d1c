import { describe, expect, it } from 'vitest';
import { InvalidRequestLogError, parseRequestLog } from '../src/schema/request-log.js';
import { makeLog } from './support/fixtures.js';

describe('parseRequestLog', () => {
  it('accepts a complete log', () => {
    const log = makeLog();
    expect(parseRequestLog(log)).toEqual(log);
  });

  it('fills optional fields with null and defaults', () => {
    const parsed = parseRequestLog({ request_id: 'r1', method: 'GET', path: '/', status_code: 200, duration_ms: 1, node_id: 'n' });
    expect(parsed).toMatchObject({ route: null, user_agent: null, device_type: 'desktop', ip: null });
    expect(parsed.inserted_at).toBeInstanceOf(Date);
  });

  it('coerces ISO dates', () => {
    expect(parseRequestLog(makeLog({ inserted_at: '2026-01-02T03:04:05.000Z' as unknown as Date })).inserted_at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('names every bad field', () => {
    try {
      parseRequestLog({ ...makeLog(), status_code: 'x', path: '', device_type: 'fridge' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidRequestLogError);
      const e = error as InvalidRequestLogError;
      expect(e.issues.map((i) => i.path).sort()).toEqual(['device_type', 'path', 'status_code']);
      expect(e.message).toMatch(/status_code/);
      expect(e.cause).toBeDefined();
    }
  });

  it('rejects NUL characters, unknown fields and non-objects', () => {
    expect(() => parseRequestLog(makeLog({ path: '/a\u0000b' }))).toThrow(/path: must not contain NUL/);
    expect(() => parseRequestLog({ ...makeLog(), extra: 1 })).toThrow(InvalidRequestLogError);
    expect(() => parseRequestLog(null)).toThrow(InvalidRequestLogError);
    expect(() => parseRequestLog('GET /')).toThrow(InvalidRequestLogError);
  });

  it('rejects negative durations and bad dates', () => {
    expect(() => parseRequestLog(makeLog({ duration_ms: -1 }))).toThrow(/duration_ms/);
    expect(() => parseRequestLog(makeLog({ inserted_at: 'nope' as unknown as Date }))).toThrow(/inserted_at/);
  });
});

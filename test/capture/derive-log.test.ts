import { describe, expect, it } from 'vitest';
import { resolveCaptureOptions, type CaptureOptions } from '../../src/capture/capture-options.js';
import type { CapturedRequest } from '../../src/capture/captured-request.js';
import { deriveLog, type DeriveContext } from '../../src/capture/derive-log.js';
import { compileIgnore } from '../../src/capture/ignore.js';
import { requestLogSchema } from '../../src/schema/request-log.js';
import { deriveContext } from '../support/derive-context.js';

const contextFor = (options: CaptureOptions = {}): DeriveContext => deriveContext(options);

const AT = Date.UTC(2026, 0, 2, 3, 4, 5);

function captured(overrides: Partial<CapturedRequest> = {}): CapturedRequest {
  return {
    method: 'GET',
    url: '/a?b=1',
    route: null,
    statusCode: 200,
    startMs: 1_000,
    durationMs: 1.5,
    responseBytes: 10,
    headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36' },
    remoteAddress: '203.0.113.9',
    ...overrides,
  };
}

describe('deriveLog', () => {
  it('derives a valid RequestLog from a raw capture', () => {
    const log = deriveLog(captured(), contextFor(), AT);
    expect(requestLogSchema.parse(log)).toEqual(log);
    expect(log).toMatchObject({ path: '/a', status_code: 200, device_type: 'desktop', node_id: 'n1', ip: null });
    expect(log.inserted_at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(log.visitor_id).toMatch(/^[\w-]{22}$/);
  });

  it('cuts the referer query and fragment unless storeRefererQuery', () => {
    const headers = { referer: 'https://Mail.Example.com:8443/inbox?token=secret#msg' };
    expect(deriveLog(captured({ headers }), contextFor(), AT).referer).toBe('https://Mail.Example.com:8443/inbox');
    expect(deriveLog(captured({ headers }), contextFor({ storeRefererQuery: true }), AT).referer).toBe(headers.referer);
  });

  it('takes the framework id, then requestIdHeader, then genRequestId', () => {
    const headers = { 'x-request-id': 'from-header', 'x-trace': 'from-trace' };
    expect(deriveLog(captured({ headers, requestId: 'from-framework' }), contextFor(), AT).request_id).toBe('from-framework');
    expect(deriveLog(captured({ headers }), contextFor(), AT).request_id).toBe('from-header');
    expect(deriveLog(captured({ headers }), contextFor({ requestIdHeader: 'X-Trace' }), AT).request_id).toBe('from-trace');
    let n = 0;
    const generated = contextFor({ requestIdHeader: false, genRequestId: () => `gen-${++n}` });
    expect(deriveLog(captured({ headers }), generated, AT).request_id).toBe('gen-1');
    const throwing = contextFor({
      genRequestId: () => {
        throw new Error('boom');
      },
    });
    expect(deriveLog(captured(), throwing, AT).request_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('resolves the client address with the framework trust or trustProxy', () => {
    const headers = { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' };
    const remoteAddress = '127.0.0.1';
    expect(deriveLog(captured({ headers, remoteAddress }), contextFor({ storeIp: true }), AT).ip).toBe('127.0.0.1');
    expect(deriveLog(captured({ headers, remoteAddress }), contextFor({ storeIp: true, trustProxy: 'loopback' }), AT).ip).toBe('198.51.100.7');
    expect(deriveLog(captured({ headers, remoteAddress, trust: () => false }), contextFor({ storeIp: true, trustProxy: true }), AT).ip).toBe('127.0.0.1');
    expect(deriveLog(captured({ headers, remoteAddress, ip: '::ffff:10.1.2.3' }), contextFor({ storeIp: true }), AT).ip).toBe('10.1.2.3');
  });

  it('rejects bad options with one precise error', () => {
    expect(() => resolveCaptureOptions({ requestIdHeader: 'bad header', maxTextLength: 0 })).toThrow(
      /maxTextLength: .*; requestIdHeader: must be an HTTP header name or false/,
    );
  });
});

describe('ignore rules', () => {
  const request = (method: string, path: string, headers: Record<string, string> = {}) => ({ method, path, headers });

  it('extend the defaults, which skip OPTIONS, assets and health checks', () => {
    const ignores = compileIgnore([(r) => r.headers['x-synthetic'] === '1', '/internal'])!;
    expect(ignores(request('OPTIONS', '/api', { 'access-control-request-method': 'POST' }))).toBe(true);
    expect(ignores(request('GET', '/app.js'))).toBe(true);
    expect(ignores(request('GET', '/healthz'))).toBe(true);
    expect(ignores(request('GET', '/internal'))).toBe(true);
    expect(ignores(request('GET', '/api', { 'x-synthetic': '1' }))).toBe(true);
    expect(ignores(request('GET', '/api'))).toBe(false);
  });

  it('replace the defaults with ignoreDefaults: false', () => {
    const ignores = compileIgnore([/^\/admin/], false)!;
    expect(ignores(request('OPTIONS', '/api'))).toBe(false);
    expect(ignores(request('GET', '/healthz'))).toBe(false);
    expect(ignores(request('GET', '/admin/x'))).toBe(true);
    expect(compileIgnore([], false)).toBeUndefined();
  });

  it('probePaths replaces the default probe paths (/metrics among them), keeping the other defaults', () => {
    expect(compileIgnore(undefined)!(request('GET', '/metrics'))).toBe(true);
    const ignores = compileIgnore(undefined, true, ['/ping'])!;
    expect(ignores(request('GET', '/ping'))).toBe(true);
    expect(ignores(request('GET', '/metrics'))).toBe(false);
    expect(ignores(request('GET', '/app.js'))).toBe(true);
    expect(compileIgnore([], false, ['/healthz'])!(request('GET', '/healthz'))).toBe(true);
    expect(() => resolveCaptureOptions({ probePaths: ['metrics'], ignoreResponse: 404 as never })).toThrow(
      /probePaths\.0: must be paths starting with \/; ignoreResponse: must be a function/,
    );
  });
});

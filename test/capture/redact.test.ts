import { describe, expect, it } from 'vitest';
import { resolveCaptureOptions, type CaptureOptions } from '../../src/capture/capture-options.js';
import type { CapturedRequest } from '../../src/capture/captured-request.js';
import { deriveLog } from '../../src/capture/derive-log.js';
import type { RedactFailReason } from '../../src/capture/redact.js';
import { requestLogSchema } from '../../src/schema/request-log.js';
import { deriveContext } from '../support/derive-context.js';

const AT = Date.UTC(2026, 0, 2, 3, 4, 5);
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36';

function setup(options: CaptureOptions) {
  const failures: { reason: RedactFailReason; detail: string }[] = [];
  const context = deriveContext(options, { redactFailed: (reason, detail) => failures.push({ reason, detail }) });
  const derive = (overrides: Partial<CapturedRequest> = {}) => {
    const log = deriveLog(
      {
        method: 'GET',
        url: '/reset/tok-123?x=1',
        route: '/reset/:token',
        statusCode: 200,
        startMs: 1_000,
        durationMs: 1,
        responseBytes: 2,
        headers: { 'user-agent': `${UA} sid=ua-secret`, referer: 'https://app.example/invite/inv-456?q=1', 'x-request-id': 'rid-secret-1' },
        remoteAddress: '203.0.113.9',
        attributes: { plan: 'pro', email: 'jane@example.com' },
        consumer: { id: 'user-77', name: 'Jane Doe', group: 'pro' },
        ...overrides,
      },
      context,
      AT,
    );
    // Whatever redaction did, the row is one Postgres takes.
    expect(requestLogSchema.parse(log)).toEqual(log);
    return log;
  };
  return { derive, failures };
}

describe('redact', () => {
  it('paths: masks path parameters in the path and the referer; fields: masks whole fields and attributes', () => {
    const { derive } = setup({
      redact: { paths: ['/reset/:token', '/invite/:secret'], fields: ['attributes.email', 'consumer_name', 'request_id'] },
    });
    expect(derive()).toMatchObject({
      path: '/reset/[redacted]',
      referer: 'https://app.example/invite/[redacted]',
      referer_host: 'app.example',
      request_id: '[redacted]',
      attributes: { plan: 'pro', email: '[redacted]' },
      consumer_id: 'user-77',
      consumer_name: '[redacted]',
      consumer_group: 'pro',
      user_agent: `${UA} sid=ua-secret`,
    });
  });

  it('censor and remove, as in pino', () => {
    const { derive } = setup({
      redact: { paths: ['/reset/:token'], fields: ['attributes.email', 'referer', 'user_agent', 'request_id'], censor: '***', remove: true },
    });
    const log = derive();
    expect(log).toMatchObject({ path: '/reset/***', referer: null, user_agent: null, request_id: '***', attributes: { plan: 'pro' } });
    // Derived columns still come from the real header.
    expect(log.browser).toBe('Chrome');
    expect(setup({ redact: { fields: ['attributes.*'] } }).derive().attributes).toEqual({ plan: '[redacted]', email: '[redacted]' });
    expect(setup({ redact: { fields: ['attributes'], remove: true } }).derive().attributes).toBeNull();
  });

  it('fn: gets the fields after paths and fields, with method, route and status; returns or changes them', () => {
    const seen: unknown[] = [];
    const { derive, failures } = setup({
      redact: {
        paths: ['/reset/:token'],
        fn: (fields, request) => {
          seen.push({ path: fields.path, request });
          return { user_agent: fields.user_agent?.replace(/sid=\S+/, 'sid=[redacted]') ?? null, request_id: fields.request_id.replace(/secret-\d+/, 'x') };
        },
      },
    });
    expect(derive()).toMatchObject({ path: '/reset/[redacted]', user_agent: `${UA} sid=[redacted]`, request_id: 'rid-x' });
    expect(seen).toEqual([{ path: '/reset/[redacted]', request: { method: 'GET', route: '/reset/:token', status_code: 200 } }]);
    const mutating = setup({
      redact: {
        fn: (fields) => {
          fields.consumer_id = 'hashed';
          delete fields.attributes!.email;
        },
      },
    });
    expect(mutating.derive()).toMatchObject({ consumer_id: 'hashed', attributes: { plan: 'pro' } });
    expect([...failures, ...mutating.failures]).toEqual([]);
  });

  it('a throwing fn masks every field it would have seen, is counted, and never throws', () => {
    const { derive, failures } = setup({
      redact: {
        fn: () => {
          throw new Error('redactor broke');
        },
      },
    });
    const log = derive({ error: new Error('card 4242 declined for jane@example.com'), errorReported: true });
    expect(log).toMatchObject({
      path: '/reset/:token',
      referer: '[redacted]',
      referer_host: '[redacted]',
      user_agent: '[redacted]',
      request_id: '[redacted]',
      attributes: null,
      consumer_id: '[redacted]',
      consumer_name: '[redacted]',
      consumer_group: '[redacted]',
      error: { class: 'Error', message: '[redacted]' },
    });
    expect(JSON.stringify(log)).not.toMatch(/tok-123|inv-456|ua-secret|rid-secret|jane|user-77|4242/);
    // Without a route, the path is the censor.
    expect(derive({ route: null }).path).toBe('/[redacted]');
    expect(failures).toHaveLength(2);
    expect(failures[0]).toEqual({ reason: 'threw', detail: 'redact.fn threw: redactor broke' });
  });

  it('what fn returns is checked: an invalid field is masked and counted; a non-object masks everything', () => {
    const { derive, failures } = setup({
      redact: { fn: () => ({ path: '', user_agent: 42 as never, referer: 'x\u0000y', consumer_id: 'c'.repeat(500), attributes: { 'bad key': 1 } }) },
    });
    expect(derive()).toMatchObject({
      path: '/[redacted]',
      user_agent: '[redacted]',
      referer: 'x\uFFFDy',
      consumer_id: '[redacted]',
      attributes: null,
    });
    expect(failures.map((f) => f.detail)).toEqual([
      'redact.fn returned an invalid path',
      'redact.fn returned an invalid user_agent',
      'redact.fn returned an invalid consumer_id',
    ]);
    const nothing = setup({ redact: { fn: () => 'nope' as never } });
    expect(nothing.derive()).toMatchObject({ path: '/reset/:token', request_id: '[redacted]', user_agent: '[redacted]' });
    expect(nothing.failures).toEqual([{ reason: 'invalid', detail: 'redact.fn returned string, not the fields' }]);
  });

  it('error messages: redactErrorMessage first, then redact; a throwing redactErrorMessage stores the censor', () => {
    const error = () => Object.assign(new Error('token=abc failed for jane@example.com'), { stack: 'Error: x' });
    const { derive, failures } = setup({ redact: { fields: ['error_message'], censor: '***' } });
    const log = derive({ error: error(), errorReported: true });
    expect(log.error?.message).toBe('***');
    // An error without frames is grouped by its message: the fingerprint follows the redacted one.
    const other = setup({ redact: { fields: ['error_message'], censor: '***' } }).derive({ error: new Error('other'), errorReported: true });
    expect(log.error_fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(failures).toEqual([]);
    expect(other.error?.message).toBe('***');

    const throwing = setup({
      redactErrorMessage: () => {
        throw new Error('no');
      },
    });
    expect(throwing.derive({ error: error(), errorReported: true }).error?.message).toBe('[redacted]');
    expect(throwing.failures).toEqual([{ reason: 'threw', detail: 'redactErrorMessage threw: no' }]);
    expect(setup({}).derive({ error: error(), errorReported: true }).error?.message).toBe('token=[redacted] failed for [email]');
  });

  it('refuses bad options at createPulse, naming each', () => {
    expect(() => resolveCaptureOptions({ redact: { paths: ['reset/:token', '/ok/:x', '/files/*a/b'] } })).toThrow(
      /redact\.paths\.0: "reset\/:token" must start with \/; redact\.paths\.2: .*must be the last segment/,
    );
    expect(() => resolveCaptureOptions({ redact: { fields: ['password' as never] } })).toThrow(/redact\.fields\.0: must be one of path, referer/);
    expect(() => resolveCaptureOptions({ redact: { censor: 'a/b' } })).toThrow(/redact\.censor: must not contain \//);
    expect(() => resolveCaptureOptions({ redact: { fn: 'x' as never } })).toThrow(/redact\.fn: must be a function/);
    expect(() => resolveCaptureOptions({ redact: { path: ['/x/:y'] } as never })).toThrow(/redact: Unrecognized key/);
  });
});

import { describe, expect, it } from 'vitest';
import { errorDetails, normalizeLocation } from '../../src/capture/error-details.js';
import { redactSecrets } from '../../src/capture/error-options.js';
import { errorLimits, requestErrorSchema } from '../../src/schema/columns.js';

const keep = (message: string) => message;

/** An error whose stack is what a deploy at `root` would print, with line numbers shifted by `shift`. */
function deployed(root: string, shift: number, message = 'order 42 not found'): Error {
  const error = new Error(message);
  error.stack = [
    `Error: ${message}`,
    `    at loadOrder (${root}/dist/orders/load.js:${10 + shift}:11)`,
    `    at async handler (${root}/dist/routes/orders.js:${33 + shift}:5)`,
    `    at Layer.handle [as handle_request] (${root}/node_modules/express/lib/router/layer.js:95:5)`,
    `    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`,
  ].join('\n');
  return error;
}

describe('errorDetails', () => {
  it('keeps class, message and the top frames, and a 16-hex fingerprint', () => {
    const details = errorDetails(deployed('/srv/app', 0), keep, '/elsewhere');
    expect(details.class).toBe('Error');
    expect(details.message).toBe('order 42 not found');
    expect(details.frames[0]).toBe('at loadOrder (/srv/app/dist/orders/load.js:10:11)');
    expect(details.frames).toHaveLength(4);
    expect(details.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(requestErrorSchema.safeParse({ class: details.class, message: details.message, frames: details.frames }).success).toBe(true);
  });

  it('gives the same fingerprint across deploys: other release directory, other line numbers, other message values', () => {
    const a = errorDetails(deployed('/srv/releases/20261201093000', 0, 'order 42 not found'), keep, '/');
    const b = errorDetails(deployed('/srv/releases/20261202101500', 7, 'order 97 not found'), keep, '/');
    const c = errorDetails(deployed('/app', 3), keep, '/app');
    const d = errorDetails(deployed('/home/ci/build-3f9a2c1d/app', 1), keep, '/home/ci/build-3f9a2c1d/app');
    expect(new Set([a.fingerprint, b.fingerprint, c.fingerprint, d.fingerprint]).size).toBe(1);
  });

  it('gives another fingerprint to another class or another place in the code', () => {
    const base = errorDetails(deployed('/app', 0), keep, '/app');
    const other = new TypeError('x');
    other.stack = deployed('/app', 0).stack!.replace('loadOrder', 'saveOrder');
    expect(errorDetails(other, keep, '/app').fingerprint).not.toBe(base.fingerprint);
    const typed = deployed('/app', 0);
    Object.defineProperty(typed, 'name', { value: 'RangeError' });
    expect(errorDetails(typed, keep, '/app').fingerprint).not.toBe(base.fingerprint);
  });

  it('uses a subclass name when `name` says only Error, and normalises node_modules, file:// and hashed chunk names', () => {
    class OrderMissingError extends Error {}
    expect(errorDetails(new OrderMissingError('gone'), keep).class).toBe('OrderMissingError');
    expect(normalizeLocation('file:///srv/app/dist/chunk-3f2a9b1c.js?v=2', '/srv/app')).toBe('dist/chunk.[hash].js');
    expect(normalizeLocation('/x/node_modules/.pnpm/express@4.21.2/node_modules/express/lib/router/index.js', '/x')).toBe(
      'node_modules/express/router/index.js',
    );
  });

  it('groups errors without frames by class and message with their values taken out', () => {
    const a = errorDetails('user 12 has no cart 5f0c0a4e-8a57-4c8e-9f5e-0123456789ab', keep);
    const b = errorDetails('user 99 has no cart 11111111-2222-3333-4444-555555555555', keep);
    expect(a.class).toBe('NonError');
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(errorDetails('another failure', keep).fingerprint).not.toBe(a.fingerprint);
  });

  it('never throws for hostile values: throwing getters, revoked proxies, huge messages and stacks, null prototypes', () => {
    const hostile = Object.create(Error.prototype, {
      message: {
        get() {
          throw new Error('no message for you');
        },
      },
      stack: {
        get() {
          throw new Error('no stack either');
        },
      },
    }) as Error;
    expect(errorDetails(hostile, keep)).toMatchObject({ class: 'Error', message: '', frames: [] });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(errorDetails(proxy, keep).class).toBe('Error');
    const huge = new Error('m'.repeat(5_000_000));
    huge.stack = `Error: x\n${'    at f (/a/b.js:1:1)\n'.repeat(200_000)}`;
    const details = errorDetails(huge, keep);
    expect(details.message).toHaveLength(errorLimits.maxMessageLength);
    expect(details.frames).toHaveLength(errorLimits.maxFrames);
    expect(errorDetails(Object.create(null), keep).class).toBe('Error');
    expect(errorDetails({ message: 42, name: 7 }, keep)).toMatchObject({ class: 'Error', message: '42' });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(errorDetails(circular, keep).class).toBe('Error');
    expect(errorDetails(undefined, keep)).toMatchObject({ class: 'NonError', message: 'undefined' });
    expect(errorDetails('\u0000nul \uD800 lone', keep).message).toBe('\uFFFDnul \uFFFD lone');
  });

  it('passes the message through the redactor before the bound', () => {
    const seen: unknown[] = [];
    const details = errorDetails(
      new Error('secret sauce'),
      (message, error) => {
        seen.push(error);
        return message.replace('secret', '[x]');
      },
      '/',
    );
    expect(details.message).toBe('[x] sauce');
    expect(seen).toHaveLength(1);
  });
});

describe('redactSecrets (the default redactErrorMessage)', () => {
  it('masks e-mail addresses, bearer tokens and key=value secrets', () => {
    expect(redactSecrets('no user jane.doe+x@example.co.uk here')).toBe('no user [email] here');
    expect(redactSecrets('upstream said: Bearer eyJhbGciOi.x-y_z')).toBe('upstream said: Bearer [redacted]');
    expect(redactSecrets('connect failed password=hunter2 host=db')).toBe('connect failed password=[redacted] host=db');
    expect(redactSecrets('api_key: "abc def" rejected')).toBe('api_key: [redacted] rejected');
    expect(redactSecrets('order 42 not found')).toBe('order 42 not found');
  });
});

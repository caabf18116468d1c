import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pgpulseFastify } from '../../src/adapters/fastify.js';
import { PulseAlerts } from '../../src/alerts/pulse-alerts.js';
import { resolveNotifyOptions } from '../../src/bridge/notify-step.js';
import { compileTrustProxy } from '../../src/capture/trust-proxy.js';
import { resolveCaptureOptions } from '../../src/capture/capture-options.js';
import { createPulse } from '../../src/create-pulse.js';
import { createDashboard } from '../../src/dashboard/dashboard.js';
import { SseHub } from '../../src/dashboard/sse-hub.js';
import { parseTraceUrl } from '../../src/dashboard/trace-url.js';
import { PubSub } from '../../src/pubsub.js';
import { resolveRelease } from '../../src/releases/release.js';
import { nonNegativeNumber, parseOption, parseOptions, positiveNumber, showValue, wholeNumber } from '../../src/shared/option-schema.js';
import { closeOnSignals } from '../../src/shutdown/close-on-signals.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { backgroundSchedule } from '../../src/store/background-jobs.js';
import { catchUpCube } from '../../src/store/cube-catch-up.js';
import { maintainPartitions } from '../../src/store/maintain-partitions.js';
import { migrate } from '../../src/store/migrate.js';
import { rebuildRollups } from '../../src/store/rebuild-rollups.js';
import { writerLimits } from '../../src/writer/writer.js';

/** Entry points that check their options before they touch the database: a stand-in that throws if they do. */
const noDb = new Proxy({}, { get: () => expect.unreachable('the database was used before the options were checked') }) as never;

describe('option schemas: one error shape, `${scope}: ${name} ${allowed}, got ${value}`', () => {
  it('parseOption names the option, what is allowed and the value, as a RangeError unless told otherwise', () => {
    expect(() => parseOption('pgpulse', 'x', positiveNumber, 0)).toThrow(new RangeError('pgpulse: x must be a positive number, got 0'));
    expect(() => parseOption('pgpulse', 'x', nonNegativeNumber, Number.NaN)).toThrow('pgpulse: x must be zero or more, got NaN');
    expect(() => parseOption('pgpulse', 'x', wholeNumber(1, 'ms'), 1.5, TypeError)).toThrow(
      new TypeError('pgpulse: x must be a whole number of ms ≥ 1, got 1.5'),
    );
    expect(() => parseOption('pgpulse', 'x', positiveNumber, '3')).toThrow('pgpulse: x must be a positive number, got "3"');
    expect(parseOption('pgpulse', 'x', positiveNumber.default(7), undefined)).toBe(7);
    const error = (() => {
      try {
        parseOption('pgpulse', 'x', positiveNumber, -1);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.cause).toBeInstanceOf(z.ZodError);
  });

  it('parseOptions names the first bad option by its path, with the value at that path', () => {
    const schema = z.object({ a: positiveNumber.default(1), b: z.object({ c: wholeNumber(0) }).optional() });
    expect(parseOptions('s', schema, {})).toEqual({ a: 1 });
    expect(() => parseOptions('s', schema, { a: 2, b: { c: -1 } })).toThrow(new RangeError('s: b.c must be a whole number ≥ 0, got -1'));
    expect(() => parseOptions('s', schema, { a: Infinity }, TypeError, 'opts.')).toThrow(new TypeError('s: opts.a must be a positive number, got Infinity'));
  });

  it('showValue prints what a JavaScript caller passed', () => {
    expect([NaN, -0.5, undefined, 'x', [1], { a: 1 }, new Date('nope'), /x/, () => 1].map(showValue)).toEqual([
      'NaN',
      '-0.5',
      'undefined',
      '"x"',
      '[1]',
      '{"a":1}',
      'Invalid Date',
      '/x/',
      'a function',
    ]);
  });
});

describe('every entry point rejects a bad option precisely and accepts its defaults', () => {
  it('createPulse: writer limits, health options, background schedule (before anything opens)', () => {
    const base = { connectionString: 'postgres://nobody@127.0.0.1:1/none' };
    expect(() => createPulse({ ...base, maxRows: 0 })).toThrow(new RangeError('pgpulse writer: maxRows must be a positive number, got 0'));
    expect(() => createPulse({ ...base, closeTimeoutMs: -1 })).toThrow(new RangeError('pgpulse writer: closeTimeoutMs must be zero or more, got -1'));
    expect(() => createPulse({ ...base, healthTimeoutMs: 0 })).toThrow(new RangeError('pgpulse: healthTimeoutMs must be a positive number, got 0'));
    expect(() => createPulse({ ...base, healthStalledAfterMs: Number.NaN })).toThrow('pgpulse: healthStalledAfterMs must be a positive number, got NaN');
    expect(() => createPulse({ ...base, healthMaxPendingRows: -5 })).toThrow('pgpulse: healthMaxPendingRows must be a positive number, got -5');
    expect(() => createPulse({ ...base, cubeIntervalMs: 2 ** 31 })).toThrow(
      new RangeError('pgpulse: cubeIntervalMs must be at most 2147483647 ms (about 24.8 days), got 2147483648'),
    );
    expect(() => createPulse({ ...base, maintenanceIntervalMs: -1 })).toThrow('pgpulse: maintenanceIntervalMs must be a whole number of ms ≥ 0, got -1');
    const hooks = { onEvent: () => undefined, onNotifyFailed: () => undefined, onError: () => undefined };
    expect(() => new PulseAlerts(noDb, 'n', { alertIntervalMs: 50 }, hooks)).toThrow(
      new RangeError('pgpulse: alertIntervalMs must be a whole number of ms ≥ 100, got 50'),
    );
    expect(() => createPulse({ ...base, release: '' })).toThrow(new TypeError('pgpulse: release must be 1–200 characters or false, got ""'));
    expect(() => createPulse({ ...base, notify: { maxQueueUsage: Number.NaN } })).toThrow(
      new RangeError('pgpulse writer: notify.maxQueueUsage must be in (0, 1], got NaN'),
    );
    expect(writerLimits({})).toEqual({
      maxRows: 2_000,
      maxWaitMs: 100,
      maxWritesInFlight: 2,
      maxBufferedRows: 100_000,
      minBackoffMs: 100,
      maxBackoffMs: 5_000,
      closeTimeoutMs: 10_000,
    });
    expect(backgroundSchedule({})).toEqual({ maintenanceIntervalMs: 21_600_000, cubeIntervalMs: 60_000 });
    expect(resolveNotifyOptions(true)).toEqual({ channel: 'pgpulse_requests', maxQueueUsage: 0.5, pauseMs: 1_000 });
    expect(resolveRelease(' v1 ', {})).toBe('v1');
  });

  it('capture: trustProxy (a RangeError for a hop count, a TypeError for addresses) and ignore rules', () => {
    expect(() => compileTrustProxy(-1)).toThrow(new RangeError('pgpulse: trustProxy as a hop count must be a whole number ≥ 0, got -1'));
    expect(() => compileTrustProxy(1.5)).toThrow(RangeError);
    expect(() => compileTrustProxy('10.0.0.0/99')).toThrow(
      new TypeError(
        'pgpulse: trustProxy must list addresses, CIDR ranges or loopback, linklocal, uniquelocal (invalid range on address: 10.0.0.0/99), got "10.0.0.0/99"',
      ),
    );
    expect(() => compileTrustProxy({} as never)).toThrow(
      new TypeError('pgpulse: trustProxy must be a boolean, a hop count, addresses or CIDR ranges (a string or an array), or a function, got {}'),
    );
    expect(compileTrustProxy(undefined)('10.0.0.1', 0)).toBe(false);
    expect(compileTrustProxy(1)('10.0.0.1', 0)).toBe(true);
    expect(compileTrustProxy(1)('10.0.0.1', 1)).toBe(false);
    expect(compileTrustProxy(['loopback', '10.0.0.0/8'])('10.1.2.3', 0)).toBe(true);
    expect(() => resolveCaptureOptions({ ignore: [42 as never] })).toThrow(
      new TypeError('pgpulse: invalid capture options: ignore: must be a path string, a RegExp or a function, or a list of them'),
    );
    expect(resolveCaptureOptions({ ignore: ['/x', /^\/y/, () => false] }).ignore).toBeTypeOf('function');
  });

  it('dashboard: SSE hub, alertsWatchMs, traceUrl', () => {
    const pubsub = new PubSub();
    expect(() => new SseHub(pubsub, { heartbeatMs: 0 })).toThrow(new RangeError('pgpulse dashboard: heartbeatMs must be a positive number, got 0'));
    expect(() => new SseHub(pubsub, { flushIntervalMs: -1 })).toThrow(new RangeError('pgpulse dashboard: flushIntervalMs must be zero or more, got -1'));
    expect(() => createDashboard({ db: noDb, pubsub, alertsWatchMs: -1 })).toThrow(
      new RangeError('pgpulse dashboard: alertsWatchMs must be zero or more, got -1'),
    );
    expect(() => parseTraceUrl('ftp://x/{trace_id}')).toThrow(TypeError);
    expect(() => parseTraceUrl('ftp://x/{trace_id}')).toThrow(/^pgpulse dashboard: traceUrl .*, got "ftp:\/\/x\/\{trace_id\}"$/);
    new SseHub(pubsub).close();
  });

  it('store and stats functions check their options before they query', async () => {
    await expect(queryStats(noDb, noDb, { timeoutMs: 0 })).rejects.toThrow(
      new RangeError('pgpulse dashboard: statsTimeoutMs must be a positive integer, got 0'),
    );
    await expect(maintainPartitions(noDb, { daysAhead: 366 })).rejects.toThrow(new RangeError('pgpulse: daysAhead must be an integer from 0 to 365, got 366'));
    await expect(maintainPartitions(noDb, { retentionDays: 0.5 })).rejects.toThrow(
      new RangeError('pgpulse: retentionDays must be a whole number of days ≥ 1, got 0.5'),
    );
    await expect(catchUpCube(noDb, { maxHours: 0 })).rejects.toThrow(new RangeError('pgpulse catchUpCube: maxHours must be a positive integer, got 0'));
    await expect(migrate(noDb, { lockTimeoutMs: 0 })).rejects.toThrow(new RangeError('pgpulse migrate: lockTimeoutMs must be a whole number ≥ 1, got 0'));
    await expect(migrate(noDb, { retryDelayMs: -1 })).rejects.toThrow(new RangeError('pgpulse migrate: retryDelayMs must be a whole number ≥ 0, got -1'));
    await expect(rebuildRollups(noDb, { to: new Date('nope') })).rejects.toThrow(
      new RangeError('pgpulse rebuildRollups: to is not a valid date, got Invalid Date'),
    );
    await expect(rebuildRollups(noDb, { from: '2026-01-01' as never })).rejects.toThrow(
      new RangeError('pgpulse rebuildRollups: from is not a valid date, got "2026-01-01"'),
    );
  });

  it('closeOnSignals and pgpulseFastify', () => {
    const pulse = { closeWithin: () => Promise.resolve(), closeTimeoutMs: 1_000 };
    expect(() => closeOnSignals(pulse, { drainTimeoutMs: -1 })).toThrow(
      new RangeError('pgpulse: closeOnSignals drainTimeoutMs must be a number of ms ≥ 0, got -1'),
    );
    closeOnSignals(pulse, { signals: ['SIGUSR2'] })();
    expect(() => pgpulseFastify(noDb, { onClose: 'sometimes' as never })).toThrow(
      new TypeError(`pgpulse: pgpulseFastify onClose must be 'close', 'flush' or false, got "sometimes"`),
    );
    expect(pgpulseFastify(noDb)).toBeTypeOf('function');
  });
});

import type { EventEmitter } from 'node:events';
import { log, type PulseLogger } from './logger.js';
import type { PulseEvents } from './pulse-events.js';

/**
 * Logs every degraded-mode event of a Pulse at its level: `error` when rows or
 * requests were lost or a bug showed (`captureError`, `drop`, `rejected`,
 * `stepError`, `handlerError`), `warn` when pgpulse retries or degrades (`writeError`,
 * `maintenanceError`, `poolError`, `notifyFailed`, `notifyPaused`, `consumerDropped`,
 * `errorDropped`, `redactionFailed`, `alertNotifyFailed`, `alertError`, a firing `alert`), `info` on `recovered`, `errorGroupNew`, `closed` and a resolved `alert`. `flushed`, `notifySkipped` (one per batch) and `backfillProgress` (progress, not a degraded mode) are not logged.
 * Returns a function that stops logging.
 */
export function logPulseEvents(pulse: Pick<EventEmitter<PulseEvents>, 'on' | 'off'>, logger: PulseLogger): () => void {
  const handlers: { [K in keyof PulseEvents]?: (...args: PulseEvents[K]) => void } = {
    captureError: ({ error }) => log(logger, 'error', { err: error, event: 'captureError' }, 'pgpulse: a request could not be recorded'),
    attributesDropped: ({ reason, count, detail, error }) =>
      log(
        logger,
        'warn',
        { ...(error ? { err: error } : {}), event: 'attributesDropped', reason, count, detail },
        `pgpulse: dropped custom attributes of ${count} request(s) (${reason}: ${detail})`,
      ),
    refererHostRejected: ({ count, detail }) =>
      log(logger, 'warn', { event: 'refererHostRejected', count, detail }, `pgpulse: ${count} referer(s) with a host that is not a host name (${detail})`),
    consumerDropped: ({ reason, count, detail, error }) =>
      log(
        logger,
        'warn',
        { ...(error ? { err: error } : {}), event: 'consumerDropped', reason, count, detail },
        `pgpulse: dropped the consumer of ${count} request(s) (${reason}: ${detail})`,
      ),
    errorDropped: ({ count, detail, error }) =>
      log(
        logger,
        'warn',
        { ...(error ? { err: error } : {}), event: 'errorDropped', count, detail },
        `pgpulse: did not store ${count} request error(s) (${detail})`,
      ),
    redactionFailed: ({ reason, count, detail, error }) =>
      log(
        logger,
        'warn',
        { ...(error ? { err: error } : {}), event: 'redactionFailed', reason, count, detail },
        `pgpulse: redaction failed for ${count} request(s), their fields were masked (${reason}: ${detail})`,
      ),
    handlerError: ({ error }) => log(logger, 'error', { err: error, event: 'handlerError' }, 'pgpulse: a wrapped request handler failed; answered 500'),
    errorGroupNew: ({ fingerprint, class: errorClass, message, route }) =>
      log(logger, 'info', { event: 'errorGroupNew', fingerprint, class: errorClass, route }, `pgpulse: new error ${errorClass}: ${message}`),
    maintenanceError: ({ error }) =>
      log(logger, 'warn', { err: error, event: 'maintenanceError' }, 'pgpulse: partition maintenance failed; retried at the next interval'),
    poolError: ({ error }) => log(logger, 'warn', { err: error, event: 'poolError' }, 'pgpulse: an idle Postgres connection failed; the pool reconnects'),
    writeError: ({ error, rows, attempt, retryInMs }) =>
      log(logger, 'warn', { err: error, event: 'writeError', rows, attempt, retryInMs }, `pgpulse: write of ${rows} rows failed; retrying in ${retryInMs} ms`),
    closed: ({ durationMs, written, dropped }) =>
      log(
        logger,
        'info',
        { event: 'closed', durationMs, written, dropped },
        `pgpulse: closed in ${Math.round(durationMs)} ms (${written} rows written, ${dropped} dropped)`,
      ),
    recovered: ({ attempts, downMs }) => log(logger, 'info', { event: 'recovered', attempts, downMs }, `pgpulse: writes succeed again after ${downMs} ms`),
    drop: ({ count, reason }) => log(logger, 'error', { event: 'drop', count, reason }, `pgpulse: dropped ${count} rows (${reason})`),
    rejected: ({ row, error }) =>
      log(logger, 'error', { err: error, event: 'rejected', requestId: row.request_id }, 'pgpulse: Postgres rejected a row; it is not retried'),
    notifyFailed: ({ error, rows }) =>
      log(logger, 'warn', { err: error, event: 'notifyFailed', rows }, `pgpulse: NOTIFY failed after ${rows} rows committed; listeners catch up`),
    notifyPaused: ({ reason, queueUsage, pauseMs }) =>
      log(logger, 'warn', { event: 'notifyPaused', reason, queueUsage, pauseMs }, `pgpulse: NOTIFY paused for ${pauseMs} ms (${reason})`),
    alert: (event) =>
      log(
        logger,
        event.state === 'firing' ? 'warn' : 'info',
        { event: 'alert', rule: event.rule, subject: event.subject, state: event.state },
        `pgpulse: alert ${event.state} ${event.rule}${event.subject ? ` (${event.subject})` : ''}`,
      ),
    alertNotifyFailed: ({ error, target, rule, attempt, final }) =>
      log(
        logger,
        'warn',
        { err: error, event: 'alertNotifyFailed', target, rule, attempt, final },
        `pgpulse: alert webhook ${target} failed (attempt ${attempt}${final ? ', gave up' : ''})`,
      ),
    alertError: ({ error }) => log(logger, 'warn', { err: error, event: 'alertError' }, 'pgpulse: alert evaluation failed; retried at the next interval'),
    stepError: ({ step, error }) => log(logger, 'error', { err: error, event: 'stepError', step }, `pgpulse: after-commit step ${step} failed`),
  };
  const entries = Object.entries(handlers) as [keyof PulseEvents, (...args: never[]) => void][];
  for (const [name, handler] of entries) pulse.on(name, handler as never);
  return () => {
    for (const [name, handler] of entries) pulse.off(name, handler as never);
  };
}

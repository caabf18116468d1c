import type { AttributesDroppedInfo, ConsumerDroppedInfo, ErrorDroppedInfo, RedactionFailedInfo, RefererHostRejectedInfo } from '../capture/recorder.js';
import { writerEventNames, type WriterEvents } from '../writer/writer-events.js';
import type { AlertEvent } from '../alerts/alert-store.js';
import type { AlertNotifyFailure } from '../alerts/alert-notifier.js';
import type { CubeBatch } from '../store/cube-catch-up.js';

/**
 * Events a {@link Pulse} emits. Every degraded mode is one of these (and a
 * counter in `pulse.stats`); none is named `error`, so an unhandled one never
 * throws in the app. Writer events are forwarded here unchanged.
 */
export interface PulseEvents extends WriterEvents {
  /** A request could not be recorded (a bug or impossible input); the request itself was served. */
  captureError: [info: { error: Error }];
  /**
   * Custom attributes of a request (the `attributes` option) were dropped, all
   * or some, for `reason`; the request was recorded. At most once a minute per
   * reason: `count` is how many requests lost attributes for it since the last
   * one, `detail` what this one lost (a key, a type, a size), `error` what the
   * function threw.
   */
  attributesDropped: [info: AttributesDroppedInfo];
  /**
   * A referer's host was not a host name or IP literal (e.g. `http://=1+2a/`):
   * the request was recorded with `referer_host` null. At most once a minute:
   * `count` requests since the last one, `detail` this one's authority text.
   */
  refererHostRejected: [info: RefererHostRejectedInfo];
  /** The consumer of a request (the `consumer` option) was dropped for `reason` (`threw`, `invalid`); at most once a minute per reason, like `attributesDropped`. */
  consumerDropped: [info: ConsumerDroppedInfo];
  /** A request error was not stored (unreadable, reported too late or for an untracked request); at most once a minute. */
  errorDropped: [info: ErrorDroppedInfo];
  /**
   * Redaction failed for `reason`: `threw` (`redact.fn` or `redactErrorMessage`)
   * or `invalid` (`redact.fn` returned what cannot be stored). The fields
   * concerned were masked, never stored unredacted; the request was recorded.
   * At most once a minute per reason, like `attributesDropped`.
   */
  redactionFailed: [info: RedactionFailedInfo];
  /** A handler wrapped with `pulse.wrap()` threw or rejected; it was answered 500 and its error stored with the request. */
  handlerError: [info: { error: Error }];
  /** Partition maintenance failed; retried at the next `maintenanceIntervalMs`. */
  maintenanceError: [info: { error: Error }];
  /**
   * A background batch of the read-model backfill finished (`catchUpCube`,
   * every `cubeIntervalMs`, e.g. after an upgrade): the cube buckets of
   * [`from`, `to`) were rebuilt from `rows` raw rows; `pending` stale hours
   * remain. The dashboard reads raw rows for those meanwhile.
   */
  backfillProgress: [info: CubeBatch];
  /** An idle connection of the pool pgpulse opened failed (Postgres restarted or the backend was terminated); the pool reconnects. */
  poolError: [info: { error: Error }];
  /** An alert fired or resolved (stored in `pgpulse.alert_events`); emitted by the evaluating process only. */
  alert: [event: AlertEvent];
  /** A webhook delivery of an alert failed (`final`: no retry follows). Counted in `stats.alerts.notifications.failures`. */
  alertNotifyFailed: [info: AlertNotifyFailure];
  /** An alert evaluation failed (Postgres unreachable, not migrated); retried at the next `alertIntervalMs`. */
  alertError: [info: { error: Error }];
  /**
   * `close()` finished: the writer stopped and the connections pgpulse opened
   * are closed. `written` and `dropped` are the writer's totals (`dropped`
   * includes rows given up on at close, `close_timeout`).
   */
  closed: [info: { durationMs: number; written: number; dropped: number }];
}

/** Names of every {@link PulseEvents} event. */
export const pulseEventNames = [
  'captureError',
  'attributesDropped',
  'refererHostRejected',
  'consumerDropped',
  'errorDropped',
  'redactionFailed',
  'handlerError',
  'maintenanceError',
  'backfillProgress',
  'poolError',
  'closed',
  ...writerEventNames,
  'alert',
  'alertNotifyFailed',
  'alertError',
] as const satisfies readonly (keyof PulseEvents)[];

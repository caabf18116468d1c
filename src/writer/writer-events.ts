import type { NotifySkipReason } from '../bridge/notify-step.js';
import type { RequestLog } from '../schema/request-log.js';
import type { NewErrorGroup } from './error-steps.js';

/** Why rows were dropped (the `drop` event, `stats.writer.dropped`). */
export type DropReason = 'buffer_full' | 'closed' | 'close_timeout' | 'worker_failed';

/** Events a writer emits (the Pulse forwards them unchanged). */
export interface WriterEvents {
  /** A batch committed. */
  flushed: [info: { rows: number; durationMs: number }];
  /** A write failed and will be retried after `retryInMs`. */
  writeError: [info: { error: Error; rows: number; attempt: number; retryInMs: number }];
  /** Writes succeed again after failures. */
  recovered: [info: { attempts: number; downMs: number }];
  /** Rows were dropped (never silently). */
  drop: [info: { count: number; reason: DropReason }];
  /** Postgres refused one row as invalid; it is not retried. */
  rejected: [info: { row: RequestLog; error: Error }];
  /** The NOTIFY after a commit failed (e.g. the NOTIFY queue is full); the rows are committed, listeners find them by catch-up. */
  notifyFailed: [info: { error: Error; rows: number }];
  /** Notifications pause for `pauseMs`: the queue usage seen reached `maxQueueUsage`, or a NOTIFY failed. */
  notifyPaused: [info: { reason: NotifySkipReason; queueUsage: number; pauseMs: number }];
  /** A batch was committed without a notification because notifications are paused. */
  notifySkipped: [info: { rows: number; reason: NotifySkipReason; queueUsage: number }];
  /** An after-commit step threw (a bug: steps report their own failures); the rows are committed. */
  stepError: [info: { step: string; error: Error }];
  /**
   * A committed batch created an error group: the first request anywhere with
   * this fingerprint (emitted once across all nodes, by the node that stored it).
   */
  errorGroupNew: [info: NewErrorGroup];
}

/**
 * The names of every {@link WriterEvents} event, defined once: the Pulse
 * forwards each, the writer worker relays each to the main thread, and
 * `pulseEventNames` lists them.
 */
export const writerEventNames = [
  'writeError',
  'recovered',
  'drop',
  'rejected',
  'flushed',
  'notifyFailed',
  'notifyPaused',
  'notifySkipped',
  'stepError',
  'errorGroupNew',
] as const satisfies readonly (keyof WriterEvents)[];

export type WriterEventName = (typeof writerEventNames)[number];

/** Fails to compile when the Writer gains an event missing from {@link writerEventNames}. */
export const allWriterEventsNamed: Exclude<keyof WriterEvents, WriterEventName> extends never ? true : never = true;

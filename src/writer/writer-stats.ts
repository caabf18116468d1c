import type { NotifyCounters } from '../bridge/notify-step.js';

/** Counters of a writer (`pulse.stats().writer`), in-process or in a worker thread. */
export interface WriterStats extends NotifyCounters {
  /** Rows committed. */
  written: number;
  /** Batches committed. */
  batches: number;
  /** Rows dropped because `maxBufferedRows` was reached or close timed out. */
  dropped: number;
  /** Rows Postgres refused as invalid (isolated one by one, never retried forever). */
  rejected: number;
  /** Failed write attempts that were retried. */
  retries: number;
  /** Rows not committed yet: buffered or in flight (0 when idle; rows given up on are counted in `dropped`, not here). */
  pending: number;
  /**
   * Since when rows have waited with no write committing, in epoch ms: the
   * later of the last commit and the moment rows started waiting. 0 when
   * nothing is pending. `pulse.health()` reports the writer stalled once this
   * is `healthStalledAfterMs` old.
   */
  waitingSince: number;
  /** Error groups (fingerprints) this writer's batches created in `pgpulse.error_groups`. */
  errorGroupsNew: number;
}

/** Counters of a writer that has done nothing yet (in-process, or the worker's before its first report). */
export function emptyWriterStats(): WriterStats {
  return {
    written: 0,
    batches: 0,
    dropped: 0,
    rejected: 0,
    retries: 0,
    pending: 0,
    waitingSince: 0,
    errorGroupsNew: 0,
    notifications: 0,
    notificationsSkipped: 0,
    notificationsFailed: 0,
    notifyQueueUsage: -1,
  };
}

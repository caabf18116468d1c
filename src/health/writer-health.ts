import type { WriterStats } from '../writer/writer-stats.js';
import type { WriterHealth } from './pulse-health.js';

/** What decides whether the writer is healthy (options `healthMaxPendingRows`, `healthStalledAfterMs`). */
export interface WriterHealthLimits {
  maxPendingRows: number;
  stalledAfterMs: number;
}

/** The last write that failed, as health reports it. */
export interface LastWriteError {
  message: string;
  at: Date;
}

/**
 * The writer's health from its stats: not ok from `maxPendingRows` rows
 * pending, or when rows have been pending for `stalledAfterMs` with no
 * write committing (read-only database, missing permission, a lock, an
 * outage). One rule for `pulse.health()`, `/healthz` and the metrics.
 */
export function writerHealth(
  stats: WriterStats,
  limits: WriterHealthLimits,
  lastWriteAt: Date | null,
  lastError: LastWriteError | null,
  now = Date.now(),
): WriterHealth {
  const stalledMs = stats.pending > 0 && stats.waitingSince > 0 ? Math.max(0, now - stats.waitingSince) : 0;
  const stalled = stalledMs >= limits.stalledAfterMs;
  return {
    ok: stats.pending < limits.maxPendingRows && !stalled,
    pendingRows: stats.pending,
    maxPendingRows: limits.maxPendingRows,
    stalledMs,
    stalledAfterMs: limits.stalledAfterMs,
    lastWriteAt,
    lastError,
  };
}

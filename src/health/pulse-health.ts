import type { PostgresHealth } from './check-postgres.js';

/** Whether the writer keeps up with captured requests. */
export interface WriterHealth {
  /** True while fewer than `maxPendingRows` rows wait and the writer is not stalled (`stalledMs` below `stalledAfterMs`). */
  ok: boolean;
  /** Rows not committed yet, on both threads (queued for the worker, in it, in flight); 0 when idle. */
  pendingRows: number;
  /** Threshold of `ok` (option `healthMaxPendingRows`). */
  maxPendingRows: number;
  /** How long rows have been pending with no write committing, in ms; 0 when nothing is pending. */
  stalledMs: number;
  /** Threshold of `ok` on `stalledMs` (option `healthStalledAfterMs`). */
  stalledAfterMs: number;
  /** When a batch last committed; null before the first. */
  lastWriteAt: Date | null;
  /** The last failed write (its error message and when), kept after recovery; null before any. */
  lastError: { message: string; at: Date } | null;
}

/** What `pulse.health()` answers, for the app's own readiness endpoint. */
export interface PulseHealth {
  /** True when the writer keeps up and Postgres answers. */
  ok: boolean;
  /** Null when the pulse does not store rows (`store: false`). */
  writer: WriterHealth | null;
  postgres: PostgresHealth;
}

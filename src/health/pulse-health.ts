import type { PostgresHealth } from './check-postgres.js';

/** Whether the writer keeps up with captured requests. */
export interface WriterHealth {
  /** True while fewer than `maxPendingRows` rows wait to be written. */
  ok: boolean;
  /** Rows buffered or in flight. */
  pendingRows: number;
  /** Threshold of `ok` (option `healthMaxPendingRows`). */
  maxPendingRows: number;
  /** When a batch last committed; null before the first. */
  lastWriteAt: Date | null;
}

/** What `pulse.health()` answers, for the app's own readiness endpoint. */
export interface PulseHealth {
  /** True when the writer keeps up and Postgres answers. */
  ok: boolean;
  /** Null when the pulse does not store rows (`store: false`). */
  writer: WriterHealth | null;
  postgres: PostgresHealth;
}

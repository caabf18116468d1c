import type { EventEmitter } from 'node:events';
import type { RequestLog } from '../schema/request-log.js';
import type { WriterEvents } from './writer-events.js';
import type { WriterStats } from './writer-stats.js';

/**
 * Where the writer's batching, serialising and rollup aggregation run:
 * `worker` — a `worker_threads` worker with its own pool, off the app's event
 * loop; `in-process` — on the app's event loop, on the pool pgpulse uses.
 */
export const writerModes = ['worker', 'in-process'] as const;
export type WriterMode = (typeof writerModes)[number];

/** What the Pulse needs from a writer, wherever it runs (`Writer` in-process, `WorkerWriter` in a thread). */
export interface PulseWriter extends EventEmitter<WriterEvents> {
  /** Where this writer runs (a worker that failed to start falls back to `in-process`). */
  readonly mode: WriterMode;
  readonly stats: WriterStats;
  /** Queues a validated row. Never throws and never waits. */
  add(row: RequestLog): void;
  /** Resolves once every row added before the call is committed (or dropped); rejects when `signal` aborts first. */
  flush(signal?: AbortSignal): Promise<void>;
  /** Writes everything buffered (for up to `timeoutMs`, default `closeTimeoutMs`), counts the rest as dropped, and stops. Safe to call twice. */
  close(timeoutMs?: number): Promise<void>;
}

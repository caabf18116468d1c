import type { ConnectionOptions } from '../store/connection.js';
import type { PackedRows } from './packed-rows.js';
import type { WriterOptions } from './writer.js';
import type { WriterStats } from './writer-stats.js';
import { writerEventNames, type WriterEventName } from './writer-events.js';

/** What the main thread gives a writer worker at start (`workerData`). */
export interface WorkerInit {
  connectionString: string;
  poolSize: number | undefined;
  options: Omit<WriterOptions, 'copyPool'>;
}

/** Messages from the main thread to the writer worker. */
export type ToWorker =
  /** RequestLogs packed column by column (see packed-rows.ts). */
  | { type: 'packed'; rows: PackedRows }
  /** RequestLogs that do not pack, `v8.serialize`d as one array (cheaper than structured clone of each object). */
  | { type: 'rows'; data: Uint8Array; count: number }
  | { type: 'flush'; id: number }
  /** Write what is buffered for up to `timeoutMs`, then end the pool and exit. */
  | { type: 'close'; timeoutMs: number };

/** An Error as it crosses the thread boundary. */
export interface SerializedError {
  message: string;
  code?: string;
  cause?: { message: string; code?: string };
}

/** Every event of the Writer; the worker relays each to the main thread. */
export const relayedEvents = writerEventNames;
type RelayedName = WriterEventName;

/** An event of the worker's Writer; an `error` in its info crosses as a {@link SerializedError}. */
export interface RelayedEvent {
  name: RelayedName;
  info: Record<string, unknown>;
  error?: SerializedError;
}

/** What the writer worker reports. */
export type WorkerReport =
  | { type: 'ready' }
  | { type: 'event'; event: RelayedEvent }
  | { type: 'flushed'; id: number }
  | { type: 'poolError'; message: string }
  /** Only fresh stats: sent once a write's bookkeeping settled after a commit or drop, so `pending` reaches 0 on the main thread. */
  | { type: 'stats' }
  | { type: 'closed' };

/** Messages from the writer worker; each carries its Writer's stats and how many rows it has received. */
export type FromWorker = WorkerReport & { stats: WriterStats; received: number };

export type { ConnectionOptions };

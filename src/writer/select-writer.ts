import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { ConnectionOptions } from '../store/connection.js';
import type { PulseDatabase } from '../schema/database.js';
import type { PulseWriter, WriterMode } from './pulse-writer.js';
import { hasCompiledWriterWorker, WorkerWriter } from './worker-writer.js';
import { Writer, type WriterOptions } from './writer.js';

/**
 * The pulse options the writer is chosen and configured from (the pulse
 * passes all of its options: any other plain-data one reaches a worker too).
 */
export interface WriterSelectionOptions extends ConnectionOptions, Omit<WriterOptions, 'nodeId' | 'copyPool'> {
  writerMode?: WriterMode | undefined;
}

/** What the writer gets from the pulse. */
export interface WriterContext {
  db: Kysely<PulseDatabase>;
  nodeId: string;
  /** The pool behind `db` (the in-process writer COPYs through it), undefined for an attached Kysely. */
  copyPool: pg.Pool | undefined;
  /** Called when an idle connection of a worker's own pool fails. */
  onPoolError: () => void;
}

/**
 * Where the writer runs for `options`: `writerMode`, else `'worker'` with
 * `connectionString` when the compiled worker exists, else `'in-process'`.
 * Throws for an unknown mode; pure, so the pulse checks it before connecting.
 */
export function writerModeOf(options: WriterSelectionOptions): WriterMode {
  const attached = options.pool !== undefined || options.db !== undefined;
  // From pgpulse's TypeScript source (its own tests) a worker needs tsx in its thread: only when asked for.
  const mode = options.writerMode ?? (attached || !hasCompiledWriterWorker() ? 'in-process' : 'worker');
  // Checked at runtime too: JavaScript callers get no type check.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JavaScript callers
  if (mode !== 'worker' && mode !== 'in-process') throw new Error(`pgpulse: writerMode must be 'worker' or 'in-process', got ${String(mode)}`);
  return mode;
}

/**
 * The pulse's writer in `mode` (see {@link writerModeOf}): a {@link Writer}
 * on the pulse's connection, or a {@link WorkerWriter} with its own pool
 * (falling back to in-process when the worker cannot start).
 */
export function createPulseWriter(mode: WriterMode, options: WriterSelectionOptions, context: WriterContext): PulseWriter {
  const inProcess = () => new Writer(context.db, { ...options, nodeId: context.nodeId, copyPool: context.copyPool });
  if (mode === 'in-process') return inProcess();
  if (options.pool !== undefined || options.db !== undefined || !options.connectionString) {
    throw new Error(
      "pgpulse: writerMode 'worker' needs connectionString; the app's own pool or db cannot be shared with a worker thread (use writerMode 'in-process')",
    );
  }
  return new WorkerWriter({
    ...pickWriterOptions(options),
    nodeId: context.nodeId,
    connectionString: options.connectionString,
    poolSize: options.poolSize,
    fallback: inProcess,
    onPoolError: context.onPoolError,
  });
}

/**
 * The options handed to the writer: everything but the connection objects and
 * what cannot cross a thread boundary (functions, e.g. capture's `ignore`
 * predicates), so writer options added later reach a worker too.
 */
function pickWriterOptions(options: WriterSelectionOptions): Omit<WriterOptions, 'nodeId'> {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'pool' || key === 'db' || key === 'connectionString') continue;
    try {
      structuredClone(value);
      picked[key] = value;
    } catch {
      // not plain data: not a writer option
    }
  }
  return picked;
}

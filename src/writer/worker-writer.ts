/**
 * The writer in a `worker_threads` worker (`writerMode: 'worker'`, the default
 * with `connectionString`). The main thread only queues rows and hands them
 * over packed column by column (packed-rows.ts) every {@link POST_INTERVAL_MS} (or as soon
 * as `maxRows` are queued, and at once on `flush()`/`close()`); the
 * worker runs the ordinary {@link Writer} (batching, SQL serialising, rollups,
 * NOTIFY, retries with bounded memory) on its own pool and relays its events
 * and stats back.
 *
 * A worker that fails to start leaves the rows with an in-process writer (no
 * row is lost, `mode` becomes `in-process`). A worker that dies later loses the
 * rows it held; they are counted as dropped (`worker_failed`) and later rows go
 * to an in-process writer.
 */
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { RequestLog } from '../schema/request-log.js';
import { packRows } from './packed-rows.js';
import type { PulseWriter, WriterMode } from './pulse-writer.js';
import { relayedEvents, type FromWorker, type RelayedEvent, type SerializedError, type ToWorker, type WorkerInit } from './worker-protocol.js';
import { writerLimits, type Writer, type WriterOptions } from './writer.js';
import type { DropReason, WriterEvents } from './writer-events.js';
import { emptyWriterStats, type WriterStats } from './writer-stats.js';

/**
 * Longest rows wait on the main thread before they are posted to the worker,
 * in ms (at most `maxWaitMs`). Every message costs a `postMessage` on the
 * event loop and wakes the worker, whatever its size: posting per turn of the
 * event loop (a few rows each under load) cost both threads more CPU than
 * the rows themselves.
 */
export const POST_INTERVAL_MS = 10;

/** How long past its close deadline a worker may take to exit before it is terminated, in ms. */
const WORKER_EXIT_MS = 500;

export interface WorkerWriterOptions extends WriterOptions {
  /** The worker opens its own pool to this URL. */
  connectionString: string;
  /** Connections in the worker's pool. Default 4. */
  poolSize?: number;
  /** Builds the in-process writer used when the worker cannot start or dies. */
  fallback: () => Writer;
  /** Called for errors of idle connections in the worker's pool. */
  onPoolError?: (error: Error) => void;
}

/** Counters of the worker and of the fallback writer added up; gauges (`notifyQueueUsage`) from whichever runs now, `waitingSince` the earlier. */
function addStats(worker: WriterStats, fallback: WriterStats | undefined): WriterStats {
  if (!fallback) return { ...worker };
  const sum: Record<string, number> = { ...worker };
  for (const [key, value] of Object.entries(fallback)) if (typeof value === 'number') sum[key] = (sum[key] ?? 0) + value;
  return {
    ...(sum as unknown as WriterStats),
    notifyQueueUsage: fallback.notifyQueueUsage,
    waitingSince: earliest(worker.waitingSince, fallback.waitingSince),
  };
}

/** The earlier of two `waitingSince` values, 0 meaning none. */
function earliest(a: number, b: number): number {
  return a === 0 ? b : b === 0 ? a : Math.min(a, b);
}

const compiledEntry = new URL('./writer-worker.js', import.meta.url);

/**
 * Whether the compiled worker entry ships next to this file (the published
 * package, `dist/`). Running from the TypeScript source (pgpulse's own tests),
 * a worker has to load tsx in its thread, which takes seconds.
 */
export function hasCompiledWriterWorker(): boolean {
  return existsSync(fileURLToPath(compiledEntry));
}

/** How to start the worker: the compiled `writer-worker.js`, or the TypeScript source through tsx (tests, `node --import tsx`). */
export function writerWorkerEntry(): { filename: string | URL; eval: boolean } {
  if (hasCompiledWriterWorker()) return { filename: compiledEntry, eval: false };
  const source = new URL('./writer-worker.ts', import.meta.url);
  if (!existsSync(fileURLToPath(source))) throw new Error(`pgpulse: writer worker entry not found next to ${fileURLToPath(import.meta.url)}`);
  const tsx = tsxEsmApi();
  const code = `import(${JSON.stringify(tsx)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(source.href)}); })`;
  return { filename: code, eval: true };
}

/** URL of tsx's ESM register API (its CommonJS build cannot register hooks from an ESM worker). */
function tsxEsmApi(): string {
  try {
    const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
    const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
    const entry = exports['./esm/api']?.import?.default;
    if (entry) return pathToFileURL(join(dirname(manifest), entry)).href;
  } catch {
    // not installed where this file is: let the worker resolve it
  }
  return 'tsx/esm/api';
}

function deserializeError(error: SerializedError): Error {
  const cause = error.cause && Object.assign(new Error(error.cause.message), error.cause.code ? { code: error.cause.code } : {});
  return Object.assign(new Error(error.message, cause ? { cause } : undefined), error.code ? { code: error.code } : {});
}

export class WorkerWriter extends EventEmitter<WriterEvents> implements PulseWriter {
  /** Why the worker could not start or died (undefined while it runs). */
  workerError: Error | undefined;
  private readonly worker: Worker;
  private ready = false;
  private readonly started: Promise<void>;
  private readonly exited: Promise<void>;
  /** Resolves when the worker reported that its writer and pool are closed. */
  private readonly workerDone: Promise<void>;
  private resolveWorkerDone!: () => void;
  private outbox: RequestLog[] = [];
  private postTimer: NodeJS.Timeout | undefined;
  private sent = 0;
  private received = 0;
  private workerStats = emptyWriterStats();
  private localDropped = 0;
  /** When rows started waiting on this thread (epoch ms), for `stats.waitingSince`. */
  private waitingSince = 0;
  private fallback: Writer | undefined;
  private readonly flushes = new Map<number, () => void>();
  private nextFlushId = 0;
  private closed = false;
  private closeRequested = false;
  private workerClosed = false;
  private closing: Promise<void> | undefined;
  private readonly maxBufferedRows: number;
  private readonly closeTimeoutMs: number;
  /** Rows that are posted at once, without waiting for the interval (the worker's `maxRows`). */
  private readonly postRowsAt: number;
  private readonly postIntervalMs: number;
  private readonly post = () => this.postRows();

  constructor(private readonly options: WorkerWriterOptions) {
    super();
    const limits = writerLimits(options);
    this.maxBufferedRows = limits.maxBufferedRows;
    this.closeTimeoutMs = limits.closeTimeoutMs;
    this.postRowsAt = limits.maxRows;
    this.postIntervalMs = Math.min(POST_INTERVAL_MS, limits.maxWaitMs);
    const { connectionString, poolSize, fallback: _fallback, onPoolError: _onPoolError, ...writerOptions } = options;
    const init: WorkerInit = { connectionString, poolSize, options: writerOptions };
    const entry = writerWorkerEntry();
    // execArgv []: the app's own flags (--input-type, --import of an APM agent, …) are not for this thread, and some are invalid in a worker.
    this.worker = new Worker(entry.filename, { eval: entry.eval, workerData: init, name: 'pgpulse-writer', execArgv: [] });
    // Idle, the worker does not keep the app alive (like the in-process writer's unref'd timers); flush/close ref it.
    this.worker.unref();
    this.workerDone = new Promise((resolve) => (this.resolveWorkerDone = resolve));
    let resolveStarted!: () => void;
    this.started = new Promise((resolve) => (resolveStarted = resolve));
    this.worker.on('message', (message: FromWorker) => {
      this.onMessage(message);
      if (message.type === 'ready') resolveStarted();
    });
    this.worker.on('error', (error) => (this.workerError = error));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.onExit(code);
        resolveStarted();
        resolve();
      }),
    );
  }

  get mode(): WriterMode {
    return this.fallback ? 'in-process' : 'worker';
  }

  /** Rows on their way to the worker or in it (as the worker last reported), not committed yet. */
  private get inWorker(): number {
    return this.sent - this.received + this.workerStats.pending;
  }

  get stats(): WriterStats {
    const stats = addStats(this.workerStats, this.fallback?.stats);
    stats.dropped += this.localDropped;
    const local = this.outbox.length + (this.sent - this.received);
    stats.pending += local;
    if (local > 0) stats.waitingSince = earliest(stats.waitingSince, this.waitingSince);
    return stats;
  }

  add(row: RequestLog): void {
    if (this.fallback) return this.fallback.add(row);
    if (this.closed) return this.drop(1, 'closed');
    // The limit covers the rows on both threads: queued here, in transit and in the worker's writer.
    if (this.outbox.length + this.inWorker >= this.maxBufferedRows) return this.drop(1, 'buffer_full');
    if (this.outbox.length === 0 && this.sent === this.received) this.waitingSince = Date.now();
    this.outbox.push(row);
    if (!this.ready) return; // posted once the worker is ready
    if (this.outbox.length >= this.postRowsAt) this.postRows();
    else if (this.postTimer === undefined) {
      this.postTimer = setTimeout(this.post, this.postIntervalMs);
      // Like the in-process writer's timers: pending rows do not keep the app alive (close() flushes them).
      this.postTimer.unref();
    }
  }

  async flush(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new Error('pgpulse flush aborted', { cause: signal.reason });
    if (!this.ready && !this.fallback) await this.started;
    if (this.fallback) return this.fallback.flush(signal);
    if (this.workerClosed) return;
    this.postRows();
    const id = ++this.nextFlushId;
    this.worker.ref();
    try {
      await new Promise<void>((resolve, reject) => {
        this.flushes.set(id, resolve);
        signal?.addEventListener(
          'abort',
          () => {
            this.flushes.delete(id);
            reject(new Error('pgpulse flush aborted', { cause: signal.reason }));
          },
          { once: true },
        );
        this.send({ type: 'flush', id });
      });
    } finally {
      if (this.flushes.size === 0 && !this.closeRequested) this.worker.unref();
    }
  }

  /**
   * Hands the last rows to the worker and lets it write them (for up to
   * `timeoutMs`, default `closeTimeoutMs`), then ends the worker and its pool.
   * Returns as soon as the worker has committed its last batch; by the
   * timeout (plus {@link WORKER_EXIT_MS}) whatever happens, terminating a
   * worker stuck on a lost server and counting its rows as dropped.
   */
  close(timeoutMs = this.closeTimeoutMs): Promise<void> {
    this.closing ??= (async () => {
      const deadline = Date.now() + timeoutMs;
      this.closed = true;
      if (!this.ready && !this.fallback) await this.started;
      if (this.fallback) {
        await this.fallback.close(Math.max(0, deadline - Date.now()));
        return;
      }
      this.postRows();
      this.closeRequested = true;
      this.worker.ref();
      this.send({ type: 'close', timeoutMs: Math.max(0, deadline - Date.now()) });
      // The worker's writer gives up at the deadline; this guards against a worker stuck on a hung connection.
      const guard = setTimeout(() => void this.worker.terminate(), Math.max(0, deadline - Date.now()) + WORKER_EXIT_MS);
      // Done once the worker has committed and ended its pool; its thread winds down (terminated) meanwhile.
      await Promise.race([this.exited, this.workerDone]);
      clearTimeout(guard);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set when the worker failed, meanwhile
      if (this.fallback) await (this.fallback as Writer).close(Math.max(0, deadline - Date.now()));
    })();
    return this.closing;
  }

  private postRows(): void {
    clearTimeout(this.postTimer);
    this.postTimer = undefined;
    if (!this.ready || this.fallback || this.workerClosed || this.outbox.length === 0) return;
    const rows = this.outbox;
    this.outbox = [];
    this.sent += rows.length;
    const packed = packRows(rows);
    if (packed) this.send({ type: 'packed', rows: packed }, [packed.numbers.buffer, packed.textKinds.buffer]);
    else this.send({ type: 'rows', data: serialize(rows), count: rows.length });
  }

  private send(message: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(message, transfer);
  }

  private onMessage(message: FromWorker): void {
    this.workerStats = message.stats;
    this.received = message.received;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.postRows();
        return;
      case 'event':
        this.relay(message.event);
        return;
      case 'flushed': {
        const resolve = this.flushes.get(message.id);
        this.flushes.delete(message.id);
        resolve?.();
        return;
      }
      case 'poolError':
        this.options.onPoolError?.(new Error(message.message));
        return;
      case 'stats':
        return;
      case 'closed':
        this.workerClosed = true;
        // Everything is written and its pool ended: no need to wait for the thread to wind down by itself.
        void this.worker.terminate();
        this.worker.unref();
        this.resolveWorkerDone();
        return;
    }
  }

  private relay(event: RelayedEvent): void {
    if (this.listenerCount(event.name) === 0) return;
    const info = event.error ? { ...event.info, error: deserializeError(event.error) } : event.info;
    (this.emit as (name: string, info: unknown) => boolean)(event.name, info);
  }

  private onExit(code: number): void {
    if (this.workerClosed) return;
    // Rows in transit and in the worker's buffer are gone with it.
    const lost = this.inWorker;
    this.sent = this.received;
    this.workerStats = { ...this.workerStats, pending: 0, waitingSince: 0 };
    if (this.closeRequested) {
      // Terminated at the close deadline (stuck on a lost server): what it held is dropped, nothing restarts.
      const left = lost + this.outbox.length;
      this.outbox = [];
      if (left > 0) this.drop(left, 'close_timeout');
      for (const [id, resolve] of this.flushes) {
        this.flushes.delete(id);
        resolve();
      }
      return;
    }
    this.workerError ??= new Error(`pgpulse writer worker exited with code ${code}`);
    process.emitWarning(`pgpulse: the writer worker ${this.ready ? 'died' : 'could not start'} (${this.workerError.message}); writing in-process from now on`, {
      code: 'PGPULSE_WRITER_WORKER',
    });
    if (lost > 0) this.drop(lost, 'worker_failed');
    this.fallback = this.options.fallback();
    const relay = this.emit.bind(this) as (name: string, info: unknown) => boolean;
    const on = this.fallback.on.bind(this.fallback) as (name: string, listener: (info: unknown) => void) => void;
    for (const name of relayedEvents) on(name, (info) => relay(name, info));
    const rows = this.outbox;
    this.outbox = [];
    for (const row of rows) this.fallback.add(row);
    for (const [id, resolve] of this.flushes) {
      this.flushes.delete(id);
      void this.fallback.flush().then(resolve, resolve);
    }
  }

  private drop(count: number, reason: DropReason): void {
    this.localDropped += count;
    if (this.listenerCount('drop') > 0) this.emit('drop', { count, reason });
  }
}

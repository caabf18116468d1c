import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { createNotifyStep, resolveNotifyOptions, type NotifyOptions, type NotifyReport } from '../bridge/notify-step.js';
import type { PulseDatabase } from '../schema/database.js';
import type { RequestLog } from '../schema/request-log.js';
import { preferredShard } from '../rollups/rollup-shard.js';
import { writeRollups } from '../store/write-rollups.js';
import type { AfterCommitStep, BatchContext, BatchStep, TransactionStep } from '../store/batch-step.js';
import { copyBatch, withCopyTransaction } from '../store/copy-batch.js';
import { createErrorSteps } from './error-steps.js';
import { insertBatch, insertBatchReturning } from '../store/insert-batch.js';
import type { PulseWriter } from './pulse-writer.js';
import { isDataError } from './transient-error.js';
import { describeError } from '../shared/describe-error.js';
import type { DropReason, WriterEvents } from './writer-events.js';
import { emptyWriterStats, type WriterStats } from './writer-stats.js';
import { z } from 'zod';
import { nonNegativeNumber, parseOptions, positiveNumber } from '../shared/option-schema.js';

export interface WriterOptions {
  /**
   * A pg pool on the same database as `db`. When given, batches are written
   * with `COPY … FROM STDIN` on it (about half the Postgres CPU per row of
   * `INSERT … unnest`, see copy-batch.ts), in the same transaction as the
   * rollups. `createPulse` passes the pool it opened or was given; with only
   * a Kysely `db`, batches use `INSERT … SELECT FROM unnest(…)`. Default none.
   */
  copyPool?: pg.Pool;
  /** Most rows written by one INSERT statement. Default 2,000 rows. */
  maxRows?: number;
  /** Longest a captured row waits in the buffer before a write starts. Default 100 ms. */
  maxWaitMs?: number;
  /** Batches written at the same time (each on its own connection) when rows arrive faster than one write commits. Default 2. */
  maxWritesInFlight?: number;
  /**
   * Most rows held in memory (buffered plus in flight) while Postgres is slow or
   * down. Rows beyond it are dropped, counted in `stats.dropped` and reported by
   * a `drop` event. Default 100,000 rows.
   */
  maxBufferedRows?: number;
  /** First retry delay after a failed write; doubles up to `maxBackoffMs`. Default 100 ms. */
  minBackoffMs?: number;
  /** Longest retry delay. Default 5,000 ms. */
  maxBackoffMs?: number;
  /** How long `close()` keeps retrying before it gives up on buffered rows (counted as dropped). Default 10,000 ms. */
  closeTimeoutMs?: number;
  /**
   * NOTIFY bridge: when set, every committed batch is followed by one
   * `pg_notify` (after the commit, as its own statement, so a full NOTIFY
   * queue never costs a row). `true` uses channel `pgpulse_requests`; see
   * {@link NotifyOptions} for `channel`, `maxQueueUsage` and `pauseMs`. Default off.
   */
  notify?: boolean | NotifyOptions;
  /**
   * Maintain the per-minute and per-hour rollups the dashboard reads for long
   * ranges, in the insert's transaction. Default true.
   */
  rollups?: boolean;
  /** Origin node id put in NOTIFY messages. */
  nodeId: string;
}

/**
 * Buffers captured requests and writes them in batches, one INSERT per batch,
 * with retry and bounded memory while Postgres is unavailable.
 */
export class Writer extends EventEmitter<WriterEvents> implements PulseWriter {
  readonly mode = 'in-process' as const;
  readonly stats: WriterStats = emptyWriterStats();
  private buffer: RequestLog[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly writes = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly maxRows: number;
  private readonly maxWaitMs: number;
  private readonly maxWritesInFlight: number;
  private readonly maxBufferedRows: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly closeTimeoutMs: number;
  /** Run in the insert's transaction, in order, after the insert. */
  private readonly transactionSteps: readonly TransactionStep[];
  /** Run in order once the batch committed. */
  private readonly afterCommitSteps: readonly AfterCommitStep[];
  private readonly needsInserted: boolean;
  private readonly flushWaiters: { until: number; resolve: () => void }[] = [];
  private accepted = 0;
  private settled = 0;
  /** Which of the `maxWritesInFlight` slots are busy (a write's slot picks its preferred rollup shard). */
  private readonly busySlots: boolean[] = [];
  /** When the last batch committed (epoch ms). */
  private lastCommitAt = 0;
  /** Set when close() gave up: writes still hanging on a lost server no longer count as pending. */
  private gaveUp = false;

  constructor(
    private readonly db: Kysely<PulseDatabase>,
    private readonly options: WriterOptions,
  ) {
    super();
    ({
      maxRows: this.maxRows,
      maxWaitMs: this.maxWaitMs,
      maxWritesInFlight: this.maxWritesInFlight,
      maxBufferedRows: this.maxBufferedRows,
      minBackoffMs: this.minBackoffMs,
      maxBackoffMs: this.maxBackoffMs,
      closeTimeoutMs: this.closeTimeoutMs,
    } = writerLimits(options));
    const steps = this.buildSteps();
    this.transactionSteps = steps.filter((s): s is TransactionStep => s.phase === 'transaction');
    this.afterCommitSteps = steps.filter((s): s is AfterCommitStep => s.phase === 'after_commit');
    this.needsInserted = steps.some((s) => s.needsInserted);
  }

  /** The ordered steps after the insert: rollups (in the transaction), then the bridge's notify (after commit). */
  private buildSteps(): BatchStep[] {
    const steps: BatchStep[] = [];
    if (this.options.rollups ?? true) {
      const nodeId = this.options.nodeId;
      steps.push({
        name: 'rollups',
        phase: 'transaction',
        run: async (trx, { rows, slot }) => {
          await writeRollups(trx, rows, preferredShard(nodeId, slot));
        },
      });
    }
    steps.push(
      ...createErrorSteps(this.options.nodeId, (group) => {
        this.stats.errorGroupsNew++;
        if (this.listenerCount('errorGroupNew') > 0) this.emit('errorGroupNew', group);
      }),
    );
    const notify = resolveNotifyOptions(this.options.notify);
    if (notify) {
      steps.push(createNotifyStep({ ...notify, nodeId: this.options.nodeId, counters: this.stats, report: (report) => this.onNotifyReport(report) }));
    }
    return steps;
  }

  private onNotifyReport(report: NotifyReport): void {
    if (report.type === 'failed') {
      if (this.listenerCount('notifyFailed') > 0) this.emit('notifyFailed', { error: report.error, rows: report.rows });
    } else if (report.type === 'paused') {
      if (this.listenerCount('notifyPaused') > 0) this.emit('notifyPaused', { reason: report.reason, queueUsage: report.queueUsage, pauseMs: report.pauseMs });
    } else if (this.listenerCount('notifySkipped') > 0) {
      this.emit('notifySkipped', { rows: report.rows, reason: report.reason, queueUsage: report.queueUsage });
    }
  }

  /** Queues a validated row. Never throws and never waits. */
  add(row: RequestLog): void {
    if (this.closed || this.buffer.length + this.inFlight >= this.maxBufferedRows) {
      this.drop(1, this.closed ? 'closed' : 'buffer_full');
      return;
    }
    if (this.buffer.length + this.inFlight === 0) this.stats.waitingSince = Date.now();
    this.buffer.push(row);
    this.accepted++;
    this.stats.pending = this.buffer.length + this.inFlight;
    if (this.buffer.length >= this.maxRows) this.start();
    else if (this.writes.size === 0 && !this.timer) {
      this.timer = setTimeout(() => this.start(), this.maxWaitMs);
      this.timer.unref();
    }
  }

  /**
   * Resolves once every row added before the call is committed (or dropped).
   * Rejects when `signal` aborts first.
   */
  async flush(signal?: AbortSignal): Promise<void> {
    const until = this.accepted;
    if (this.settled >= until) return;
    this.start();
    await new Promise<void>((resolve, reject) => {
      const waiter = { until, resolve };
      this.flushWaiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.flushWaiters.indexOf(waiter);
          if (i >= 0) this.flushWaiters.splice(i, 1);
          reject(new Error('pgpulse flush aborted', { cause: signal.reason }));
        },
        { once: true },
      );
    });
  }

  /**
   * Stops accepting rows, writes everything buffered (retrying for up to
   * `timeoutMs`, default `closeTimeoutMs`) and counts what could not be
   * written as dropped (`close_timeout`; `pending` goes to 0). Returns by the
   * timeout even when a write hangs on a lost server. Safe to call more than once.
   */
  close(timeoutMs = this.closeTimeoutMs): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      // The time a hanging write gets below is within timeoutMs.
      const timeout = AbortSignal.timeout(Math.max(0, timeoutMs - WRITE_SETTLE_MS));
      try {
        await this.flush(timeout);
      } catch {
        this.abort.abort();
        // A write blocked on an unresponsive server cannot be interrupted: wait for it only briefly.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled(this.writes), new Promise<void>((resolve) => (timer = setTimeout(resolve, WRITE_SETTLE_MS).unref()))]);
        clearTimeout(timer);
        const lost = this.buffer.length + this.inFlight;
        this.gaveUp = true;
        this.buffer = [];
        this.inFlight = 0;
        this.stats.pending = 0;
        this.stats.waitingSince = 0;
        if (lost > 0) this.drop(lost, 'close_timeout');
        this.settle(lost);
      }
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    })();
    return this.closing;
  }

  /**
   * Starts writes: one whenever none is running, and a concurrent one (up to
   * `maxWritesInFlight`) once a full batch is waiting, so serialising the next
   * batch in Node overlaps with Postgres inserting the previous one.
   */
  private start(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (
      this.buffer.length > 0 &&
      !this.abort.signal.aborted &&
      this.writes.size < this.maxWritesInFlight &&
      (this.writes.size === 0 || this.buffer.length >= this.maxRows)
    ) {
      const batch = this.buffer.splice(0, this.maxRows);
      this.inFlight += batch.length;
      const write: Promise<void> = this.writeWithRetry(batch).finally(() => {
        this.writes.delete(write);
        if (this.gaveUp) return; // counted as dropped by close()
        this.inFlight -= batch.length;
        const pending = this.buffer.length + this.inFlight;
        this.stats.pending = pending;
        this.stats.waitingSince = pending === 0 ? 0 : Math.max(this.stats.waitingSince, this.lastCommitAt);
        if (this.buffer.length > 0 && !this.abort.signal.aborted) this.start();
      });
      this.writes.add(write);
    }
  }

  private async writeWithRetry(batch: RequestLog[]): Promise<void> {
    let attempt = 0;
    let firstFailure = 0;
    for (;;) {
      try {
        await this.write(batch);
        if (attempt > 0) this.emit('recovered', { attempts: attempt, downMs: Date.now() - firstFailure });
        return;
      } catch (error) {
        if (isDataError(error)) {
          await this.bisect(batch, error);
          return;
        }
        if (this.abort.signal.aborted) {
          this.buffer.unshift(...batch);
          return;
        }
        attempt++;
        firstFailure ||= Date.now();
        this.stats.retries++;
        const retryInMs = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(attempt - 1, 20));
        const wrapped = new Error(`pgpulse writer: insert of ${batch.length} rows failed: ${describeError(error)}`, { cause: error });
        if (this.listenerCount('writeError') > 0) this.emit('writeError', { error: wrapped, rows: batch.length, attempt, retryInMs });
        try {
          await sleep(retryInMs * (0.75 + Math.random() * 0.5), undefined, { signal: this.abort.signal, ref: false });
        } catch {
          this.buffer.unshift(...batch);
          return;
        }
      }
    }
  }

  /** Splits a batch Postgres refused as invalid until the bad rows are isolated. */
  private async bisect(batch: RequestLog[], error: unknown): Promise<void> {
    if (batch.length === 1) {
      this.stats.rejected++;
      this.settle(1);
      const wrapped = new Error(`pgpulse writer: Postgres rejected a row: ${describeError(error)}`, { cause: error });
      if (this.listenerCount('rejected') > 0) this.emit('rejected', { row: batch[0]!, error: wrapped });
      return;
    }
    const middle = Math.ceil(batch.length / 2);
    await this.writeWithRetry(batch.slice(0, middle));
    await this.writeWithRetry(batch.slice(middle));
  }

  /**
   * Inserts the batch and runs the transaction steps in one transaction
   * (or a lone INSERT when there are none), then the after-commit steps.
   * Throws only before the commit, so a retry never writes a row twice.
   */
  private async write(batch: RequestLog[]): Promise<void> {
    const started = performance.now();
    const context: BatchContext = { rows: batch, slot: 0 };
    const copyPool = this.options.copyPool;
    if (this.transactionSteps.length > 0 || this.needsInserted || copyPool) {
      let slot = this.busySlots.indexOf(false);
      if (slot < 0) slot = this.busySlots.push(false) - 1;
      this.busySlots[slot] = true;
      context.slot = slot;
      try {
        if (copyPool) {
          await withCopyTransaction(copyPool, async (client, trx) => {
            context.inserted = await copyBatch(client, batch, this.needsInserted);
            for (const step of this.transactionSteps) await step.run(trx, context);
          });
        } else {
          await this.db.transaction().execute(async (trx) => {
            if (this.needsInserted) context.inserted = await insertBatchReturning(trx, batch);
            else await insertBatch(trx, batch);
            for (const step of this.transactionSteps) await step.run(trx, context);
          });
        }
      } finally {
        this.busySlots[slot] = false;
      }
    } else {
      await insertBatch(this.db, batch);
    }
    for (const step of this.afterCommitSteps) {
      try {
        await step.run(this.db, context);
      } catch (error) {
        const wrapped = new Error(`pgpulse writer: after-commit step "${step.name}" failed (the rows are committed): ${describeError(error)}`, {
          cause: error,
        });
        if (this.listenerCount('stepError') > 0) this.emit('stepError', { step: step.name, error: wrapped });
      }
    }
    this.lastCommitAt = Date.now();
    this.stats.written += batch.length;
    this.stats.batches++;
    this.settle(batch.length);
    if (this.listenerCount('flushed') > 0) this.emit('flushed', { rows: batch.length, durationMs: performance.now() - started });
  }

  private drop(count: number, reason: DropReason): void {
    this.stats.dropped += count;
    if (this.listenerCount('drop') > 0) this.emit('drop', { count, reason });
  }

  private settle(count: number): void {
    this.settled += count;
    if (this.flushWaiters.length === 0) return;
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      const waiter = this.flushWaiters[i]!;
      if (this.settled >= waiter.until) {
        this.flushWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

/** How long close() waits for a write still running after it gave up (one blocked on a lost server never settles), in ms. */
const WRITE_SETTLE_MS = 100;

/** The writer's numeric options with their defaults (each message names the option and what it accepts). */
const writerLimitsSchema = z.object({
  maxRows: positiveNumber.default(2_000),
  maxWaitMs: nonNegativeNumber.default(100),
  maxWritesInFlight: positiveNumber.default(2),
  maxBufferedRows: positiveNumber.default(100_000),
  minBackoffMs: positiveNumber.default(100),
  maxBackoffMs: positiveNumber.default(5_000),
  closeTimeoutMs: nonNegativeNumber.default(10_000),
});

/** The writer's numeric options with their defaults applied. */
export type WriterLimits = z.output<typeof writerLimitsSchema>;

/** The writer's numeric options with their defaults applied; throws a RangeError naming a bad one. */
export function writerLimits(options: Omit<WriterOptions, 'nodeId'>): WriterLimits {
  return parseOptions('pgpulse writer', writerLimitsSchema, options);
}

import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { PulseDatabase } from '../schema/database.js';
import type { StoredRequestLog } from '../schema/request-log.js';
import type { AfterCommitStep } from '../store/batch-step.js';
import { DEFAULT_CHANNEL, encodeBridgeMessage } from './message.js';
import { errorMessage } from '../shared/describe-error.js';
import { nonNegativeNumber, parseOptions } from '../shared/option-schema.js';

/**
 * The bridge's part of writing a batch: one `pg_notify` per committed batch,
 * sent AFTER the insert committed, as its own statement (its own tiny
 * transaction, which has no transaction id and so no WAL flush).
 *
 * Why after commit and not in the insert's transaction: Postgres checks
 * whether the cluster-wide NOTIFY queue has room at COMMIT, not when
 * `pg_notify` is called. A full queue (any app's listener stuck in a long
 * transaction holds it) therefore aborts the whole transaction it is in: a
 * savepoint cannot catch it, and a `pg_notification_queue_usage()` check
 * before commit races with other notifiers. Outside the insert's transaction
 * a failed NOTIFY costs a latency hint, never a row. Listeners find every
 * committed row anyway by their periodic snapshot catch-up (see the listener).
 *
 * pgpulse is a guest in a shared queue: once the usage it sees reaches
 * `maxQueueUsage`, or a NOTIFY fails, it stops notifying for `pauseMs` and
 * counts the skipped batches; the next batch after the pause probes again.
 */
export interface NotifyOptions {
  /** NOTIFY channel. Default `pgpulse_requests`. */
  channel?: string;
  /**
   * Queue usage (0–1, `pg_notification_queue_usage()`) at or above which the
   * writer stops notifying for `pauseMs`, leaving the shared queue to others.
   * Default 0.5.
   */
  maxQueueUsage?: number;
  /** How long notifications pause after a failure or a high queue usage, in milliseconds. Default 1,000 ms. */
  pauseMs?: number;
}

/** Counters the notify step keeps (part of the writer's stats). */
export interface NotifyCounters {
  /** NOTIFY messages sent (one per committed batch). */
  notifications: number;
  /** Batches committed without a notification because notifications were paused. */
  notificationsSkipped: number;
  /** NOTIFY statements that failed (e.g. "too many notifications in the NOTIFY queue"); the rows are committed. */
  notificationsFailed: number;
  /** Last NOTIFY queue usage seen (0–1); -1 before the first notification. */
  notifyQueueUsage: number;
}

/** Why a batch was committed without a notification. */
export type NotifySkipReason = 'queue_usage' | 'after_failure';

/** What the notify step reports (the writer turns these into events). */
export type NotifyReport =
  | { type: 'failed'; error: Error; rows: number }
  | { type: 'skipped'; rows: number; reason: NotifySkipReason; queueUsage: number }
  | { type: 'paused'; reason: NotifySkipReason; queueUsage: number; pauseMs: number };

export const notifyCounterNames = ['notifications', 'notificationsSkipped', 'notificationsFailed', 'notifyQueueUsage'] as const;

/** The notify options with their defaults; each message names the option and the accepted range. */
const notifyOptionsSchema = z.object({
  channel: z.string({ error: 'must be 1-63 characters' }).min(1).max(63).default(DEFAULT_CHANNEL),
  maxQueueUsage: z.number({ error: 'must be in (0, 1]' }).gt(0).lte(1).default(0.5),
  pauseMs: nonNegativeNumber.default(1_000),
});

/** Resolved options of the notify step. */
export type ResolvedNotifyOptions = z.output<typeof notifyOptionsSchema>;

/** Applies defaults and checks ranges; throws a RangeError naming the option. */
export function resolveNotifyOptions(notify: boolean | NotifyOptions | undefined): ResolvedNotifyOptions | undefined {
  if (!notify) return undefined;
  return parseOptions('pgpulse writer', notifyOptionsSchema, typeof notify === 'object' ? notify : {}, RangeError, 'notify.');
}

/**
 * Creates the after-commit step that notifies listeners of a committed
 * batch. It never throws: failures are counted and reported.
 */
export function createNotifyStep(
  options: ResolvedNotifyOptions & { nodeId: string; counters: NotifyCounters; report: (report: NotifyReport) => void },
): AfterCommitStep {
  let pausedUntil = 0;
  let pauseReason: NotifySkipReason = 'queue_usage';
  const pause = (reason: NotifySkipReason) => {
    pausedUntil = Date.now() + options.pauseMs;
    pauseReason = reason;
    options.report({ type: 'paused', reason, queueUsage: options.counters.notifyQueueUsage, pauseMs: options.pauseMs });
  };
  return {
    name: 'notify',
    phase: 'after_commit',
    needsInserted: true,
    async run(db, context) {
      const { rows, inserted } = context;
      if (!inserted) return;
      if (Date.now() < pausedUntil) {
        options.counters.notificationsSkipped++;
        options.report({ type: 'skipped', rows: rows.length, reason: pauseReason, queueUsage: options.counters.notifyQueueUsage });
        return;
      }
      const stored: StoredRequestLog[] = rows.map((row, i) => ({ ...row, id: inserted.ids[i]! }));
      const payload = encodeBridgeMessage({ nodeId: options.nodeId, batchId: randomUUID(), txId: inserted.txId, rows: stored });
      try {
        const result = await sql<{ usage: number }>`select pg_notify(${options.channel}, ${payload}), pg_notification_queue_usage() as usage`.execute(db);
        options.counters.notifications++;
        const usage = result.rows[0]?.usage ?? 0;
        options.counters.notifyQueueUsage = usage;
        if (usage >= options.maxQueueUsage) pause('queue_usage');
      } catch (error) {
        options.counters.notificationsFailed++;
        const message = errorMessage(error);
        options.report({
          type: 'failed',
          rows: rows.length,
          error: new Error(`pgpulse writer: NOTIFY after commit failed (the rows are committed): ${message}`, { cause: error }),
        });
        await readQueueUsage(db, options.counters);
        pause('after_failure');
      }
    },
  };
}

/** Records the queue usage after a failure (best effort: Postgres may be down). */
async function readQueueUsage(db: Kysely<PulseDatabase>, counters: NotifyCounters): Promise<void> {
  try {
    const result = await sql<{ usage: number }>`select pg_notification_queue_usage() as usage`.execute(db);
    counters.notifyQueueUsage = result.rows[0]?.usage ?? counters.notifyQueueUsage;
  } catch {
    // keep the last value seen
  }
}

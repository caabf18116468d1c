import type { Kysely } from 'kysely';
import { HOUR_MS } from '../shared/time.js';
import { catchUpCube, type CubeBatch, type CubeCatchUpResult } from './cube-catch-up.js';
import type { PulseDatabase } from '../schema/database.js';
import { maintainPartitions, type PartitionMaintenanceResult } from './maintain-partitions.js';
import { errorMessage } from '../shared/describe-error.js';
import { z } from 'zod';
import { parseOptions } from '../shared/option-schema.js';

/** Longest delay a Node.js timer keeps (a longer one fires after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const intervalMs = z
  .number({ error: 'must be a whole number of ms ≥ 0' })
  .int()
  .nonnegative()
  .max(MAX_TIMER_MS, { error: `must be at most ${MAX_TIMER_MS} ms (about 24.8 days)` });

const scheduleSchema = z.object({
  maintenanceIntervalMs: intervalMs.default(6 * HOUR_MS),
  cubeIntervalMs: intervalMs.default(60_000),
});

/** How often a pulse runs its background jobs, in ms; 0 turns a job off. */
export type BackgroundSchedule = z.output<typeof scheduleSchema>;

/** Delay of the first maintenance after start (the app may still be migrating). */
const FIRST_MAINTENANCE_MS = 10_000;

/**
 * The schedule of `options` with its defaults; throws a RangeError naming a
 * bad interval. Pure: the pulse calls it before it opens anything.
 */
export function backgroundSchedule(options: { maintenanceIntervalMs?: number | undefined; cubeIntervalMs?: number | undefined }): BackgroundSchedule {
  return parseOptions('pgpulse', scheduleSchema, options);
}

/** What the background jobs report. */
export interface BackgroundJobEvents {
  /** A maintenance or cube catch-up run failed; `error` wraps the failure (its `cause`). */
  onError: (error: Error) => void;
  /** A batch of a cube catch-up finished. */
  onBatch: (batch: CubeBatch) => void;
}

/**
 * A pulse's background jobs: partition maintenance (partitions ahead,
 * retention) and the cube catch-up, on timers that never keep the process
 * alive. Failures are counted in {@link errors} and reported, and retried at
 * the next interval.
 */
export class BackgroundJobs {
  /** Maintenance and cube catch-up runs that failed. */
  errors = 0;
  private maintenanceStart: NodeJS.Timeout | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private cubeTimer: NodeJS.Timeout | undefined;
  private readonly cubeAbort = new AbortController();
  private cubeRun: Promise<unknown> | undefined;

  constructor(
    private readonly db: Kysely<PulseDatabase>,
    private readonly retentionDays: number | undefined,
    private readonly events: BackgroundJobEvents,
  ) {}

  /** Starts the timers of `schedule`: maintenance shortly after start then every interval, the cube catch-up every interval. */
  start(schedule: BackgroundSchedule): void {
    const { maintenanceIntervalMs, cubeIntervalMs } = schedule;
    if (maintenanceIntervalMs > 0) {
      this.maintenanceStart = setTimeout(() => void this.maintain().catch(() => undefined), FIRST_MAINTENANCE_MS);
      this.maintenanceStart.unref();
      this.maintenanceTimer = setInterval(() => void this.maintain().catch(() => undefined), maintenanceIntervalMs);
      this.maintenanceTimer.unref();
    }
    if (cubeIntervalMs > 0) {
      this.cubeTimer = setInterval(() => void this.catchUpCube().catch(() => undefined), cubeIntervalMs);
      this.cubeTimer.unref();
    }
  }

  /** Creates the day partitions ahead of time and applies the retention. */
  async maintain(): Promise<PartitionMaintenanceResult> {
    try {
      return await maintainPartitions(this.db, { retentionDays: this.retentionDays });
    } catch (error) {
      throw this.failed('pgpulse partition maintenance failed', error);
    }
  }

  /** Brings the request cube up to date (one run at a time: a call waits for the run in flight). */
  async catchUpCube(): Promise<CubeCatchUpResult> {
    if (this.cubeRun) await this.cubeRun.catch(() => undefined);
    const run = catchUpCube(this.db, { signal: this.cubeAbort.signal, onBatch: this.events.onBatch });
    this.cubeRun = run;
    try {
      return await run;
    } catch (error) {
      throw this.failed('pgpulse cube catch-up failed', error);
    } finally {
      if (this.cubeRun === run) this.cubeRun = undefined;
    }
  }

  /** The cube catch-up in flight, if any. */
  get running(): Promise<unknown> | undefined {
    return this.cubeRun;
  }

  /** Clears the timers and stops a cube catch-up in flight between its batches. */
  stop(): void {
    clearTimeout(this.maintenanceStart);
    clearInterval(this.maintenanceTimer);
    clearInterval(this.cubeTimer);
    this.cubeAbort.abort();
  }

  /** Counts and reports a failed run; returns the error to throw. */
  private failed(what: string, error: unknown): Error {
    this.errors++;
    const wrapped = new Error(`${what}: ${errorMessage(error)}`, { cause: error });
    this.events.onError(wrapped);
    return wrapped;
  }
}

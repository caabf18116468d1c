import { ReportThrottle } from './report-throttle.js';
import { errorMessage } from '../shared/describe-error.js';

/** What a drop report says: a reason, what was dropped, and how many requests lost something for it since the last report. */
export interface DroppedInfo<Reason extends string> {
  reason: Reason;
  /** Requests that lost something for this reason since the last report of it (this one included). */
  count: number;
  /** What was dropped in this request: a key, a type, a size. */
  detail: string;
  /** What the app's function threw (reason `threw`). */
  error?: Error;
}

/**
 * Counts what capture drops from requests (attributes, consumers, errors) by
 * reason, and reports it at most once a minute per reason, so a bad value on
 * every request costs a counter, not an event per request. Never throws.
 */
export class DropCounter<Reason extends string> {
  /** Requests that lost something, by reason. */
  readonly counts: Record<Reason, number>;
  private readonly reports = new ReportThrottle<Reason>();

  constructor(
    reasons: readonly Reason[],
    private readonly report: () => ((info: DroppedInfo<Reason>) => void) | undefined,
  ) {
    this.counts = Object.fromEntries(reasons.map((reason) => [reason, 0])) as Record<Reason, number>;
  }

  drop(reason: Reason, detail: string, error?: Error): void {
    this.counts[reason]++;
    const count = this.reports.occurred(reason);
    if (count === 0) return;
    try {
      this.report()?.({ reason, count, detail, ...(error ? { error } : {}) });
    } catch {
      // A throwing event listener must not reach the app's request.
    }
  }
}

/** A short, safe description of what an app's function threw (its message getter may throw too). */
export function thrownDetail(error: unknown): string {
  try {
    return errorMessage(error).slice(0, 200);
  } catch {
    return '(unreadable)';
  }
}

/** What an app's function threw, as an Error. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(thrownDetail(error));
}

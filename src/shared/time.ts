/** Milliseconds in one minute. */
export const MINUTE_MS = 60_000;

/** Milliseconds in one hour. */
export const HOUR_MS = 3_600_000;

/** Milliseconds in one UTC day. */
export const DAY_MS = 86_400_000;

/** UTC calendar day of `date` (default now), as `YYYY-MM-DD`. */
export function utcDay(date: Date | number = new Date()): string {
  return (typeof date === 'number' ? new Date(date) : date).toISOString().slice(0, 10);
}

/** Days since the Unix epoch (UTC) of an epoch-millisecond time. */
export function utcDayNumber(epochMs: number): number {
  return Math.floor(epochMs / DAY_MS);
}

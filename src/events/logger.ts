/**
 * A pino-compatible logger: `warn` and `error` are required, `info` is used when
 * present. Called as `logger.warn({ err, ...fields }, message)`, so pino (and
 * pino-style loggers such as Fastify's `request.log`) serialise the error with
 * its `cause`.
 */
export interface PulseLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
}

/** Log levels pgpulse uses: `error` when data was lost, `warn` when it is retried or degraded, `info` on recovery. */
export const logLevels = ['info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

/** Calls the logger without ever throwing into pgpulse (a broken logger must not break capture). */
export function log(logger: PulseLogger, level: LogLevel, fields: Record<string, unknown>, message: string): void {
  try {
    if (level === 'info') logger.info?.(fields, message);
    else logger[level](fields, message);
  } catch {
    // A logger that throws is the app's bug; pgpulse keeps running.
  }
}

/**
 * What an error says, for messages that wrap it: the one place pgpulse turns
 * a caught `unknown` into text (no `(error as Error).message` casts, which
 * print `undefined` for a thrown string).
 */

/** The `message` of `error` (an Error or any object with a string one), else `String(error)`. */
export function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(error);
}

/**
 * Short human description of a Postgres or network error: its message, with
 * its SQLSTATE or errno code, and a hint for a database not migrated yet.
 */
export function describeError(error: unknown): string {
  const message = errorMessage(error);
  const code = (error as { code?: string } | null | undefined)?.code;
  if (code === '42P01' || code === '3F000') return `${message} (run \`pgpulse migrate\` or pulse.migrate())`;
  return code ? `${message} [${code}]` : message;
}

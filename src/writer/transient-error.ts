/**
 * Whether a failed batch should be retried as is (connection trouble, server
 * restarting, lock conflicts) rather than split to isolate a bad row.
 * Data errors (SQLSTATE classes 22 and 23) are the only non-transient ones: a
 * missing table or permission error is retried too, so rows wait in the buffer
 * until an operator runs the migration.
 */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23)/.test(code);
}

/** Short human description of a Postgres or network error, with a hint for common ones. */
export function describeError(error: unknown): string {
  const e = error as { code?: string; message?: string } | null;
  const message = e?.message ?? String(error);
  if (e?.code === '42P01' || e?.code === '3F000') return `${message} (run \`pgpulse migrate\` or pulse.migrate())`;
  return e?.code ? `${message} [${e.code}]` : message;
}

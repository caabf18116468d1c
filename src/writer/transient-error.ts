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

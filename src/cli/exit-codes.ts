/** Exit codes scripts can rely on. */
export const exitCodes = {
  ok: 0,
  /** Unexpected failure. */
  failure: 1,
  /** Wrong command line (unknown command or option, bad value). */
  usage: 2,
  /** Postgres could not be reached or refused the login. */
  unreachable: 3,
  /** Database reachable but pgpulse migrations are missing: run `pgpulse migrate`. */
  notMigrated: 4,
  /** `pgpulse migrate` could not take a table lock within its retries (a long transaction holds the table): nothing of that migration was applied. */
  migrationLocked: 5,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** An error that ends the CLI with a given exit code and a one-line message. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

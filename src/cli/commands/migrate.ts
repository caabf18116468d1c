import { migrate } from '../../store/migrate.js';
import { MigrationLockError } from '../../store/migration-errors.js';
import { isLockTimeout, maintainPartitions } from '../../store/maintain-partitions.js';
import { buildCube } from '../build-cube.js';
import { checkReachable, openDatabase, redactUrl, requireDatabaseUrl } from '../database-url.js';
import { parseCommandArgs } from '../parse-command-args.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { stopRequested } from '../stop-requested.js';
import { errorMessage } from '../../shared/describe-error.js';

export const migrateHelp = `Usage: pgpulse migrate [--database-url URL] [--lock-timeout 500] [--max-attempts 20] [--no-backfill]

Creates or updates the pgpulse schema (pgpulse.request_logs and friends),
online: each migration in its own transaction, every lock waited for at most
--lock-timeout ms (the app's inserts and reads queue behind a waiting
migration only that long), a timed-out migration rolled back and retried with
a growing pause. Then runs the background work the migrations leave (the
request cube's build over the history, indexes built concurrently per
partition) in resumable batches, printing progress; Ctrl-C stops it, and the
next run or any running pulse resumes it. Idempotent and safe to run from
several nodes at once; apps of the previous release keep writing throughout.

Options:
  --database-url URL   Postgres URL (default: $DATABASE_URL)
  --lock-timeout MS    longest wait for one lock, ms (default: 500)
  --max-attempts N     tries per migration before giving up (default: 20, about 90 s)
  --no-backfill        apply the migrations only; pulses do the background work
  -h, --help           Show this help

Exit codes: 0 ok, 1 a migration failed, 2 usage, 3 unreachable,
5 a migration could not take its locks (a long transaction holds the table;
the message names it): nothing of that migration was applied, run it again.`;

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`pgpulse migrate: --${name} must be a whole number ≥ 1, got ${JSON.stringify(value)}`, exitCodes.usage);
  return n;
}

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    'database-url': { type: 'string' },
    'lock-timeout': { type: 'string' },
    'max-attempts': { type: 'string' },
    'no-backfill': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(migrateHelp);
    return exitCodes.ok;
  }
  const url = requireDatabaseUrl(values['database-url'], 'migrate');
  const lockTimeoutMs = positive(values['lock-timeout'], 'lock-timeout');
  const maxAttempts = positive(values['max-attempts'], 'max-attempts');
  await checkReachable(url, 'migrate');
  const connection = openDatabase(url);
  const { db } = connection;
  const stop = new AbortController();
  const stopping = stopRequested();
  void stopping.promise.then(() => stop.abort());
  try {
    const result = await migrate(db, {
      lockTimeoutMs,
      maxAttempts,
      signal: stop.signal,
      onLockWait: ({ migration, attempt, retryInMs, holder }) =>
        console.error(
          `pgpulse migrate: ${migration} waited ${lockTimeoutMs ?? 500} ms for a lock (try ${attempt})` +
            (holder ? `, held by pid ${holder.pid} (${holder.state})` : '') +
            `; retrying in ${retryInMs} ms`,
        ),
      onApplied: ({ name, ms, attempts }) => console.error(`pgpulse migrate: applied ${name} in ${ms} ms${attempts > 1 ? ` (${attempts} tries)` : ''}`),
    });
    await maintainPartitions(db).catch((error: unknown) => {
      if (!isLockTimeout(error)) throw error; // a partition behind a long reader: the next maintenance makes it
    });
    console.log(
      result.applied.length > 0
        ? `pgpulse migrate: applied ${result.applied.join(', ')} on ${redactUrl(url)}`
        : `pgpulse migrate: already up to date (${result.all.length} migrations) on ${redactUrl(url)}`,
    );
    if (!values['no-backfill'] && !stop.signal.aborted) {
      const built = await buildCube(db, 'migrate', stop.signal);
      if (built.skipped) console.log('pgpulse migrate: another process is building the request cube; it resumes there');
      else if (built.stopped) console.log(`pgpulse migrate: background build stopped (${built.hours} hour(s) built); the next run or a pulse resumes it`);
      else
        console.log(
          `pgpulse migrate: background build done (${built.hours} hour(s) of the request cube from ${built.rows} rows, ${built.pathIndexes} partition index(es))`,
        );
    }
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof MigrationLockError) throw new CliError(error.message, exitCodes.migrationLocked, { cause: error });
    throw new CliError(errorMessage(error), exitCodes.failure, { cause: error });
  } finally {
    stopping.dispose();
    await connection.close();
  }
}

import { maintainPartitions } from '../../store/maintain-partitions.js';
import { buildCube } from '../build-cube.js';
import { checkReachable, openDatabase, redactUrl, requireDatabaseUrl, requireMigrated } from '../database-url.js';
import { parseCommandArgs } from '../parse-command-args.js';
import { CliError, exitCodes } from '../exit-codes.js';

export const maintainHelp = `Usage: pgpulse maintain [--database-url URL] [--retention-days N] [--days-ahead 3] [--no-cube]

Creates the daily partitions of pgpulse.request_logs ahead of time, moves rows
out of the default partition, and with --retention-days drops whole partitions
older than that, then brings the request cube (the dashboard's read model) up
to date, building every hour it lacks (a backfill of the history on first
run, in one-day batches; interrupt it any time, the next run resumes). Apps
running pgpulse do both by themselves; run it from cron when they do not
(e.g. store: false, or an external writer).

Options:
  --database-url URL    Postgres URL (default: $DATABASE_URL)
  --retention-days N    drop day partitions older than N days (default: keep everything)
  --days-ahead N        partitions created ahead of today, UTC (default: 3)
  --no-cube             skip the request cube
  -h, --help            Show this help`;

function wholeNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`pgpulse maintain: --${name} must be a whole number, got ${JSON.stringify(value)}`, exitCodes.usage);
  return n;
}

export async function maintainCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    'database-url': { type: 'string' },
    'retention-days': { type: 'string' },
    'days-ahead': { type: 'string' },
    'no-cube': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(maintainHelp);
    return exitCodes.ok;
  }
  const url = requireDatabaseUrl(values['database-url'], 'maintain');
  const retentionDays = wholeNumber(values['retention-days'], 'retention-days');
  const daysAhead = wholeNumber(values['days-ahead'], 'days-ahead');
  if (retentionDays === 0) throw new CliError('pgpulse maintain: --retention-days must be at least 1', exitCodes.usage);
  await checkReachable(url, 'maintain');
  await requireMigrated(url, 'maintain');
  const connection = openDatabase(url);
  const { db } = connection;
  try {
    const result = await maintainPartitions(db, { retentionDays, daysAhead });
    console.log(
      `pgpulse maintain: ${result.created} partition(s) created, ${result.dropped} dropped, ${result.deletedDefaultRows} old row(s) deleted from the default partition on ${redactUrl(url)}`,
    );
    if (!values['no-cube']) {
      const built = await buildCube(db, 'maintain');
      if (built.skipped) console.log('pgpulse maintain: another process is building the request cube; skipped');
      console.log(`pgpulse maintain: request cube up to date (${built.hours} hour(s) built from ${built.rows} rows)`);
    }
    return exitCodes.ok;
  } finally {
    await connection.close();
  }
}

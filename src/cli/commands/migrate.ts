import { parseArgs } from 'node:util';
import { migrate } from '../../store/migrate.js';
import { maintainPartitions } from '../../store/maintain-partitions.js';
import { checkReachable, openDatabase, redactUrl, requireDatabaseUrl } from '../database-url.js';
import { CliError, exitCodes } from '../exit-codes.js';

export const migrateHelp = `Usage: pgpulse migrate [--database-url URL]

Creates or updates the pgpulse schema (pgpulse.request_logs and friends).
Idempotent and safe to run from several nodes at once.

Options:
  --database-url URL   Postgres URL (default: $DATABASE_URL)
  -h, --help           Show this help`;

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'database-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    console.log(migrateHelp);
    return exitCodes.ok;
  }
  const url = requireDatabaseUrl(values['database-url'], 'migrate');
  await checkReachable(url, 'migrate');
  const connection = openDatabase(url);
  const { db } = connection;
  try {
    const result = await migrate(db);
    await maintainPartitions(db);
    console.log(
      result.applied.length > 0
        ? `pgpulse migrate: applied ${result.applied.join(', ')} on ${redactUrl(url)}`
        : `pgpulse migrate: already up to date (${result.all.length} migrations) on ${redactUrl(url)}`,
    );
    return exitCodes.ok;
  } catch (error) {
    throw new CliError((error as Error).message, exitCodes.failure, { cause: error });
  } finally {
    await connection.close();
  }
}
